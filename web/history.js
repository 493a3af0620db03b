// History playback: the alerts that intersect a window, and the map as it was at any moment
// of it, played at a chosen speed. The URL keeps the window and the moment (?from=&to=&t=).
'use strict';

(() => {
  const { $, el, t } = TV;
  let alerts = []; // {a, start, end} with end = Infinity while ongoing
  let from = 0, to = 0, at = 0;
  let changes = []; // sorted instants where something starts or ends
  let timer = null, lastTick = 0;
  let svg;

  const activeAt = (ms) => alerts.filter((x) => x.start <= ms && ms < x.end);

  function draw() {
    const now = activeAt(at);
    const list = now.map((x) => x.a);
    const statuses = TV.statuses(list);
    const { active, partial } = TV.paint(svg, statuses);
    $('#moment').textContent = TV.when(at, 'full');
    $('#moment').dataset.at = new Date(at).toISOString();
    $('#summary').textContent = active || partial ? t('summary', { a: active, p: partial }) : t('summary.none');
    const slider = $('#slider');
    slider.value = String(Math.round(((at - from) / Math.max(1, to - from)) * 1000));
    slider.setAttribute('aria-valuetext', TV.when(at, 'full'));
    const ul = $('#active');
    ul.replaceChildren();
    for (const a of list.filter((a) => a.status === 'actual').sort((x, y) => x.started_at.localeCompare(y.started_at))) {
      const name = a.region.level === 'oblast' ? TV.name(a.region) : `${TV.name(a.region)} (${TV.pathName(svg.querySelector(`path.rg[data-region="${a.region.oblast_id}"]`) || svg)})`;
      ul.append(el('li', { 'data-alert': a.id },
        el('a', { href: '/region/' + a.region.id, text: name }), ' — ', TV.typeName(a.type),
        a.level ? ` (${t('lvl.' + a.level)})` : '', ', ', t('since', { t: TV.when(a.started_at, 'dt') }), ', ',
        t('lasted', { d: TV.dur(at - Date.parse(a.started_at)) }), ' ', TV.alertFlags(a)));
    }
    if (!ul.children.length) ul.append(el('li', { class: 'muted', text: t('active.empty') }));
  }

  function seek(ms, keepUrl) {
    at = Math.min(to, Math.max(from, ms));
    draw();
    if (!keepUrl) saveUrl();
  }

  function saveUrl() {
    const q = new URLSearchParams(location.search);
    q.set('from', new Date(from).toISOString());
    q.set('to', new Date(to).toISOString());
    q.set('t', new Date(at).toISOString());
    history.replaceState(null, '', '?' + q);
  }

  async function load(f, tt) {
    from = f; to = tt;
    $('#from').value = TV.toKyivInput(from);
    $('#to').value = TV.toKyivInput(to);
    $('#loaded').textContent = t('h.loading');
    const out = [];
    let cursor = null;
    for (let page = 0; page < 100; page++) {
      const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), limit: '1000' });
      if (cursor) q.set('cursor', cursor);
      const r = await TV.api('/api/v1/alerts?' + q);
      out.push(...r.alerts);
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    alerts = out.map((a) => ({ a, start: Date.parse(a.started_at), end: a.ended_at ? Date.parse(a.ended_at) : Infinity }));
    const set = new Set();
    for (const x of alerts) { set.add(x.start); if (x.end !== Infinity) set.add(x.end); }
    changes = Array.from(set).filter((ms) => ms >= from && ms <= to).sort((a, b) => a - b);
    $('#loaded').textContent = t('h.loaded', { n: alerts.length });
  }

  function stop() {
    if (timer) cancelAnimationFrame(timer);
    timer = null;
    $('#play').textContent = t('h.play');
    $('#play').dataset.t = 'h.play';
    $('#play').setAttribute('aria-pressed', 'false');
    saveUrl();
  }

  function play() {
    if (at >= to) seek(from, true);
    $('#play').textContent = t('h.pause');
    $('#play').dataset.t = 'h.pause';
    $('#play').setAttribute('aria-pressed', 'true');
    lastTick = performance.now();
    const step = (now) => {
      const speed = +$('#speed').value;
      let next = at + (now - lastTick) * speed;
      // An alert that would start and end within this one step is still shown for a frame.
      for (const x of alerts) if (x.start > at && x.end <= next && x.start < next) next = x.start;
      lastTick = now;
      seek(next, true);
      if (at >= to) { stop(); return; }
      timer = requestAnimationFrame(step);
    };
    timer = requestAnimationFrame(step);
  }

  document.addEventListener('DOMContentLoaded', async () => {
    svg = $('#map');
    for (const p of svg.querySelectorAll('path.rg')) p.setAttribute('role', 'img');
    const q = new URLSearchParams(location.search);
    const parse = (v, d) => { const ms = v ? Date.parse(v) : NaN; return Number.isNaN(ms) ? d : ms; };
    const now = Date.now();
    const f = parse(q.get('from'), now - 86400000);
    const tt = parse(q.get('to'), now);
    try {
      await load(f, tt);
    } catch (e) {
      $('#loaded').textContent = e.message;
    }
    seek(parse(q.get('t'), from), true);
    document.body.dataset.ready = 'true';

    $('#range').addEventListener('submit', async (e) => {
      e.preventDefault();
      stop();
      const nf = TV.fromKyivInput($('#from').value), nt = TV.fromKyivInput($('#to').value);
      if (Number.isNaN(nf) || Number.isNaN(nt) || nt <= nf) return;
      try { await load(nf, nt); } catch (err) { $('#loaded').textContent = err.message; }
      seek(from);
    });
    $('#slider').addEventListener('input', (e) => { if (timer) stop(); seek(from + ((to - from) * +e.target.value) / 1000); });
    $('#play').addEventListener('click', () => (timer ? stop() : play()));
    $('#prev').addEventListener('click', () => { if (timer) stop(); const c = changes.filter((ms) => ms < at); seek(c.length ? c[c.length - 1] : from); });
    $('#next').addEventListener('click', () => { if (timer) stop(); const c = changes.find((ms) => ms > at); seek(c !== undefined ? c : to); });
    const speedLabel = () => {
      for (const o of $('#speed').options) {
        const v = +o.value;
        const per = v >= 86400 ? (TV.lang === 'en' ? '1 day/s' : '1 доба/с') : v >= 3600 ? `${v / 3600} ${TV.lang === 'en' ? 'h/s' : 'год/с'}` : `${v / 60} ${TV.lang === 'en' ? 'min/s' : 'хв/с'}`;
        o.textContent = `×${v} (${per})`;
      }
    };
    speedLabel();
    TV.langHooks.push(() => { speedLabel(); draw(); });
  });
})();
