// The live map: the active alerts, then every change from the stream.
'use strict';

(() => {
  const { $, el, t } = TV;
  const alerts = new Map(); // id → alert, actual or not
  let svg;
  let pending = false;

  const oblastPath = (id) => svg.querySelector(`path.rg[data-region="${id}"]`);
  const oblastName = (id) => { const p = oblastPath(id); return p ? TV.pathName(p) : String(id); };

  function alertLine(a) {
    const where = a.region.level === 'oblast' ? null : el('strong', { text: TV.name(a.region) + ' ' });
    return el('li', { 'data-alert': a.id },
      where, TV.typeName(a.type),
      a.level ? ` (${t('lvl.' + a.level)})` : '', ' — ',
      t('since', { t: TV.when(a.started_at, 'time') }), ', ',
      el('span', { class: 'dur', 'data-since': a.started_at, text: TV.dur(Date.now() - Date.parse(a.started_at)) }),
      ' ', TV.alertFlags(a));
  }

  function render() {
    pending = false;
    const list = Array.from(alerts.values());
    const statuses = TV.statuses(list);
    const { active, partial } = TV.paint(svg, statuses);
    $('#summary').textContent = active || partial ? t('summary', { a: active, p: partial }) : t('summary.none');

    // Active alerts grouped under their oblast; raion and hromada alerts listed by name.
    const ul = $('#active');
    ul.replaceChildren();
    const ids = Array.from(statuses.keys()).sort((a, b) => oblastName(a).localeCompare(oblastName(b), 'uk'));
    for (const id of ids) {
      const s = statuses.get(id);
      const items = s.alerts.slice().sort((a, b) => a.started_at.localeCompare(b.started_at));
      ul.append(el('li', { 'data-oblast': id },
        el('a', { href: '/region/' + id, text: oblastName(id) }), ' ', TV.badge(s.status, s.level),
        el('ul', {}, items.map(alertLine))));
    }
    if (!ids.length) ul.append(el('li', { class: 'muted', text: t('active.empty') }));

    const all = $('#all');
    all.replaceChildren();
    const paths = Array.from(svg.querySelectorAll('path.rg'));
    paths.sort((a, b) => TV.pathName(a).localeCompare(TV.pathName(b), 'uk'));
    for (const p of paths) {
      const s = statuses.get(+p.dataset.region) || { status: 'none' };
      all.append(el('li', {}, el('a', { href: '/region/' + p.dataset.region, text: TV.pathName(p) }), ' ', TV.badge(s.status, s.level)));
    }
  }

  const schedule = () => { if (!pending) { pending = true; requestAnimationFrame(render); } };

  function announce(kind, a) {
    if (a.status !== 'actual') return;
    const r = a.region.level === 'oblast' ? TV.name(a.region) : `${TV.name(a.region)} (${oblastName(a.region.oblast_id)})`;
    const key = kind === 'alert.started' ? 'announce.start' : kind === 'alert.ended' || kind === 'alert.cancelled' ? 'announce.end' : null;
    if (key) $('#announce').textContent = t(key, { r });
  }

  function onEvent(kind, ev) {
    const a = ev.alert;
    if (!a) return;
    if (kind === 'alert.ended' || kind === 'alert.cancelled' || a.ended_at) alerts.delete(a.id);
    else alerts.set(a.id, a);
    announce(kind, a);
    schedule();
  }

  let stream = null;
  async function load() {
    const data = await TV.api('/api/v1/alerts/active');
    alerts.clear();
    for (const a of data.alerts) alerts.set(a.id, a);
    render();
    performance.mark('tryvoga:map-ready');
    document.body.dataset.ready = 'true';
    if (stream) stream.close();
    stream = TV.follow({}, data.seq, onEvent, (state) => {
      if (state === 'reload') { load().catch(() => setTimeout(load, 3000)); return; }
      $('#live').textContent = state ? t('live.on') : t('live.off');
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    svg = $('#map');
    for (const p of svg.querySelectorAll('path.rg')) {
      p.setAttribute('role', 'link');
      const go = () => { location.href = '/region/' + p.dataset.region; };
      p.addEventListener('click', go);
      p.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); } });
    }
    TV.langHooks.push(render);
    load().catch((e) => { $('#live').textContent = e.message; setTimeout(load, 3000); });
  });
})();
