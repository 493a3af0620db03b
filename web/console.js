// The issuer console: sign in with a token, pick regions of the token's scope on the map or
// in the list, and raise, end or cancel alerts — each only after a confirmation that says
// exactly what goes out and where.
'use strict';

(() => {
  const { $, $$, el, t } = TV;
  const LEVELS = { o: 'oblast', r: 'raion', h: 'hromada' };
  let token = null;
  let me = null;
  const regions = new Map(); // id → {id, level, parent, name_uk, name_en, oblast, children}
  let scope = new Set();
  const selected = new Map(); // id → region, in the order picked
  const active = new Map(); // alert id → alert
  let stream = null;
  let svg;

  // --- regions and scope -------------------------------------------------------------
  async function loadRegions() {
    if (regions.size) return;
    const data = await TV.api('/static/regions.json');
    for (const [id, lv, parent, uk, en] of data.regions) {
      regions.set(id, { id, level: LEVELS[lv], parent, name_uk: uk, name_en: en, children: [] });
    }
    for (const r of regions.values()) {
      if (r.parent && regions.has(r.parent)) regions.get(r.parent).children.push(r.id);
      let o = r;
      while (o.parent && regions.has(o.parent)) o = regions.get(o.parent);
      r.oblast = o.id;
    }
  }
  const inScope = (id) => {
    for (let r = regions.get(id); r; r = regions.get(r.parent)) if (scope.has(r.id)) return true;
    return false;
  };
  const descendants = (id, out = new Set()) => {
    out.add(id);
    for (const c of regions.get(id)?.children || []) descendants(c, out);
    return out;
  };
  const label = (r) => (r.level === 'oblast' ? TV.name(r) : `${TV.name(r)} — ${t('level.' + r.level)}, ${TV.name(regions.get(r.oblast))}`);
  const norm = (s) => s.toLowerCase().replace(/[’'ʼ`]/g, "'").replace(/ё/g, 'е');

  // --- mode ---------------------------------------------------------------------------
  const mode = () => ($('input[name="status"]:checked') || {}).value || null;
  function showMode() {
    const m = mode();
    document.body.classList.toggle('mode-actual', m === 'actual');
    document.body.classList.toggle('mode-exercise', m === 'exercise' || m === 'test');
  }

  // --- the map ------------------------------------------------------------------------
  function paintMap() {
    const statuses = TV.statuses(Array.from(active.values()));
    TV.paint(svg, statuses);
    for (const p of svg.querySelectorAll('path.rg')) {
      const id = +p.dataset.region;
      const sc = inScope(id) ? 'in' : Array.from(scope).some((s) => regions.get(s)?.oblast === id) ? 'part' : 'out';
      p.dataset.scope = sc;
      const sel = selected.has(id);
      p.dataset.selected = String(sel);
      const lbl = svg.querySelector(`text.lbl[data-for="${id}"]`);
      if (lbl) lbl.dataset.selected = String(sel);
      if (sc === 'in') {
        p.setAttribute('role', 'checkbox');
        p.setAttribute('aria-checked', String(sel));
        p.removeAttribute('aria-disabled');
      } else {
        p.setAttribute('role', 'checkbox');
        p.setAttribute('aria-checked', 'false');
        p.setAttribute('aria-disabled', 'true');
        p.setAttribute('aria-label', `${p.getAttribute('aria-label')} — ${t(sc === 'part' ? 'c.partscope' : 'c.outscope')}`);
      }
    }
  }

  function pickFromMap(p) {
    const id = +p.dataset.region;
    const note = $('#map-note');
    if (p.dataset.scope === 'in') {
      toggle(id);
      note.textContent = '';
    } else if (p.dataset.scope === 'part') {
      note.textContent = `${TV.pathName(p)}: ${t('c.partscope')}`;
      $('#search').value = TV.shortName(TV.pathName(p));
      search();
    } else {
      note.textContent = `${TV.pathName(p)}: ${t('c.outscope')}`;
    }
  }

  // --- picking ------------------------------------------------------------------------
  function toggle(id, on) {
    if (!inScope(id)) return; // out of scope: never picked, whatever asks
    const want = on === undefined ? !selected.has(id) : on;
    if (want) selected.set(id, regions.get(id)); else selected.delete(id);
    renderSelected();
  }

  function search() {
    const q = norm($('#search').value.trim());
    const ul = $('#results');
    ul.replaceChildren();
    const inside = [], outside = [];
    if (!q) {
      for (const id of scope) if (regions.has(id)) inside.push(regions.get(id));
    } else {
      for (const r of regions.values()) {
        if (!norm(r.name_uk).includes(q) && !norm(r.name_en).includes(q)) continue;
        (inScope(r.id) ? inside : outside).push(r);
      }
    }
    const rank = { oblast: 0, raion: 1, hromada: 2 };
    const order = (a, b) => rank[a.level] - rank[b.level] || TV.name(a).localeCompare(TV.name(b), 'uk');
    inside.sort(order); outside.sort(order);
    for (const r of inside.slice(0, 40)) {
      const box = el('input', { type: 'checkbox', value: r.id, checked: selected.has(r.id) });
      box.addEventListener('change', () => toggle(r.id, box.checked));
      ul.append(el('li', { 'data-region': r.id, 'data-scope': 'in' }, el('label', {}, box, label(r))));
    }
    if (inside.length > 40) ul.append(el('li', { class: 'muted', text: t('c.more', { n: inside.length - 40 }) }));
    for (const r of outside.slice(0, 8)) {
      ul.append(el('li', { class: 'out', 'data-region': r.id, 'data-scope': 'out' },
        el('label', {}, el('input', { type: 'checkbox', disabled: true, 'aria-disabled': 'true' }), label(r), ' — ',
          el('span', { class: 'out-of-scope', text: t('c.outscope') }))));
    }
  }

  function renderSelected() {
    $('#selected-title').textContent = t('c.selected', { n: selected.size });
    const ul = $('#selected');
    ul.replaceChildren();
    for (const r of selected.values()) {
      ul.append(el('li', { 'data-region': r.id }, label(r), ' ',
        el('button', { type: 'button', 'aria-label': '✕ ' + TV.name(r), onclick: () => toggle(r.id, false), text: '✕' })));
    }
    if (!selected.size) ul.append(el('li', { class: 'muted', text: t('c.none') }));
    for (const box of $$('#results input[type="checkbox"]:not([disabled])')) box.checked = selected.has(+box.value);
    paintMap();
  }

  // --- confirmation dialog ------------------------------------------------------------
  function ask({ exercise, head, body, send, onSend }) {
    const d = $('#confirm');
    d.classList.toggle('exercise', !!exercise);
    $('#confirm-head').textContent = head;
    $('#confirm-body').replaceChildren(...body.filter(Boolean));
    const btn = $('#confirm-send');
    btn.textContent = send;
    btn.disabled = false;
    btn.onclick = async () => {
      btn.disabled = true;
      try { if ((await onSend()) !== false) d.close(); } finally { btn.disabled = false; }
    };
    $('#confirm-back').onclick = () => d.close();
    d.showModal();
    $('#confirm-back').focus();
  }

  function review(e) {
    e.preventDefault();
    const err = $('#form-error');
    err.textContent = '';
    const status = mode();
    if (!selected.size) { err.textContent = t('c.need.regions'); return; }
    if (!status) { err.textContent = t('c.need.status'); return; }
    const type = $('#type').value, level = $('#level').value || null, note = $('#note').value.trim() || null;
    const picked = Array.from(selected.values()).filter((r) => inScope(r.id));
    const covered = new Set();
    for (const r of picked) descendants(r.id, covered);
    const count = { oblast: 0, raion: 0, hromada: 0 };
    for (const id of covered) count[regions.get(id).level]++;
    const dups = picked.filter((r) => Array.from(active.values()).some((a) => a.region.id === r.id && a.type === type && a.status === status));
    const body = [
      el('p', { class: 'summary', text: t('c.confirm.what', { t: TV.typeName(type), l: level ? ', ' + t('lvl.' + level) : '' }) }),
      el('p', { text: t('c.confirm.to', { n: picked.length }) }),
      el('ul', { id: 'confirm-regions' }, picked.map((r) => el('li', { 'data-region': r.id, text: label(r) }))),
      el('p', { id: 'confirm-cover', 'data-oblasts': count.oblast, 'data-raions': count.raion, 'data-hromadas': count.hromada,
        text: t('c.confirm.cover', { o: count.oblast, r: count.raion, h: count.hromada }) }),
      el('p', { class: 'muted', text: t('c.confirm.people') }),
      note ? el('p', {}, el('em', { text: note })) : null,
      dups.length ? el('p', { class: 'result-err', text: t('c.confirm.dup', { r: dups.map((r) => TV.name(r)).join(', ') }) }) : null,
    ];
    const batch = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now());
    ask({
      exercise: status !== 'actual',
      head: t('c.confirm.' + status),
      body,
      send: t('c.send', { n: picked.length }),
      onSend: async () => {
        const out = $('#results-sent');
        out.replaceChildren();
        for (const r of picked) {
          const li = el('li', { 'data-region': r.id }, label(r), ': ');
          out.append(li);
          try {
            const a = await TV.api('/api/v1/alerts', {
              method: 'POST', token, headers: { 'Idempotency-Key': `${batch}-${r.id}` },
              body: { region: r.id, type, level, status, note },
            });
            li.dataset.result = 'ok';
            li.append(el('span', { class: 'result-ok', text: t('c.result.ok', { id: a.id }) }));
            active.set(a.id, a);
          } catch (ex) {
            li.dataset.result = 'error';
            li.append(el('span', { class: 'result-err', text: `${ex.status || ''} ${ex.message}` }));
          }
        }
        selected.clear();
        renderSelected();
        renderMine();
      },
    });
  }

  // --- alerts in scope: end, cancel ---------------------------------------------------
  function renderMine() {
    const ul = $('#mine');
    ul.replaceChildren();
    const mine = Array.from(active.values()).filter((a) => inScope(a.region.id))
      .sort((a, b) => a.started_at.localeCompare(b.started_at));
    for (const a of mine) {
      const what = `${TV.typeName(a.type)} — ${TV.name(a.region)}`;
      ul.append(el('li', { 'data-alert': a.id, 'data-region': a.region.id },
        el('strong', { text: `#${a.id} ${what}` }), a.level ? ` (${t('lvl.' + a.level)})` : '', ' ', TV.alertFlags(a), ' ',
        t('since', { t: TV.when(a.started_at, 'dt') }), ', ',
        el('span', { class: 'dur', 'data-since': a.started_at, text: TV.dur(Date.now() - Date.parse(a.started_at)) }), ' ',
        el('button', { type: 'button', class: 'end', text: t('c.end'), onclick: () => endAlert(a) }), ' ',
        el('button', { type: 'button', class: 'cancel', text: t('c.cancel'), onclick: () => cancelAlert(a) })));
    }
    if (!mine.length) ul.append(el('li', { class: 'muted', text: t('c.none.active') }));
    paintMap();
  }

  function endAlert(a) {
    ask({
      exercise: a.status !== 'actual',
      head: t('c.end'),
      body: [el('p', { class: 'summary', text: t('c.end.q', { id: a.id, t: TV.typeName(a.type), r: label(regions.get(a.region.id) || a.region) }) })],
      send: t('c.do.end'),
      onSend: async () => {
        try {
          await TV.api(`/api/v1/alerts/${a.id}/end`, { method: 'POST', token, body: {} });
          active.delete(a.id);
          renderMine();
        } catch (ex) { $('#confirm-body').append(el('p', { class: 'result-err', role: 'alert', text: ex.message })); return false; }
      },
    });
  }

  function cancelAlert(a) {
    const reason = el('textarea', { id: 'cancel-reason', rows: 2, required: true, maxlength: 1000 });
    ask({
      exercise: a.status !== 'actual',
      head: t('c.cancel'),
      body: [el('p', { class: 'summary', text: t('c.cancel.q', { id: a.id, t: TV.typeName(a.type), r: label(regions.get(a.region.id) || a.region) }) }),
        el('label', { class: 'field' }, el('span', { text: t('c.reason') }), reason)],
      send: t('c.do.cancel'),
      onSend: async () => {
        if (!reason.value.trim()) { reason.focus(); return false; }
        try {
          await TV.api(`/api/v1/alerts/${a.id}/cancel`, { method: 'POST', token, body: { reason: reason.value.trim() } });
          active.delete(a.id);
          renderMine();
        } catch (ex) { $('#confirm-body').append(el('p', { class: 'result-err', role: 'alert', text: ex.message })); return false; }
      },
    });
  }

  // --- sign in ------------------------------------------------------------------------
  async function signIn(secret) {
    const err = $('#signin-error');
    err.textContent = '';
    try {
      me = await TV.api('/api/v1/whoami', { token: secret });
    } catch (e) {
      err.textContent = t('c.bad.token', { m: e.message });
      try { sessionStorage.removeItem('tryvoga.token'); } catch (_) { /* private mode */ }
      return;
    }
    if (me.role === 'reader') { err.textContent = t('c.reader'); return; }
    token = secret;
    try { sessionStorage.setItem('tryvoga.token', secret); } catch (_) { /* private mode */ }
    await loadRegions();
    scope = new Set(me.regions.map((r) => r.id));
    const data = await TV.api('/api/v1/alerts/active');
    active.clear();
    for (const a of data.alerts) active.set(a.id, a);
    $('#signin').classList.add('hidden');
    $('#desk').classList.remove('hidden');
    renderWho();
    search();
    renderSelected();
    renderMine();
    if (stream) stream.close();
    stream = TV.follow({}, data.seq, (kind, ev) => {
      const a = ev.alert;
      if (!a) return;
      if (kind === 'alert.ended' || kind === 'alert.cancelled' || a.ended_at) active.delete(a.id); else active.set(a.id, a);
      renderMine();
    });
    document.body.dataset.ready = 'true';
  }

  function renderWho() {
    if (!me) return;
    $('#who').textContent = t('c.as', { n: me.name, r: me.role });
    $('#scope').textContent = t('c.scope', { s: me.all_regions ? t('c.scope.all') : me.regions.map((r) => label(regions.get(r.id) || r)).join('; ') });
  }

  document.addEventListener('DOMContentLoaded', () => {
    svg = $('#map');
    for (const o of $$('#type option')) o.dataset.t = 'type.' + o.value;
    TV.applyWords();
    for (const p of svg.querySelectorAll('path.rg')) {
      p.addEventListener('click', () => pickFromMap(p));
      p.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pickFromMap(p); } });
    }
    $('#signin').addEventListener('submit', (e) => { e.preventDefault(); signIn($('#token').value.trim()); });
    $('#signout').addEventListener('click', () => {
      try { sessionStorage.removeItem('tryvoga.token'); } catch (_) { /* private mode */ }
      location.reload();
    });
    $('#search').addEventListener('input', search);
    $('#raise').addEventListener('submit', review);
    for (const r of $$('input[name="status"]')) r.addEventListener('change', showMode);
    TV.langHooks.push(() => { renderWho(); search(); renderSelected(); renderMine(); });
    let saved = null;
    try { saved = sessionStorage.getItem('tryvoga.token'); } catch (_) { /* private mode */ }
    if (saved) signIn(saved); else document.body.dataset.ready = 'true';
  });
})();
