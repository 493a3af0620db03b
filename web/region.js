// A region's page: status and active alerts (live), the last 30 days, statistics and charts.
'use strict';

(() => {
  const { $, el, t } = TV;
  const DAY = 86400000;
  const key = decodeURIComponent(location.pathname.replace(/^\/region\//, '').replace(/\/$/, ''));
  let region = null; // the API's region object with status and active_alerts
  let past = []; // alerts of the last 30 days that touched the region
  let stats = null, statsState = 'loading';
  let charts = [];

  const regionOf = (a) => (a.region.level === 'oblast' ? TV.name(a.region) : `${TV.name(a.region)} (${t('level.' + a.region.level)})`);

  function renderStatus() {
    $('#name').textContent = TV.name(region);
    const crumbs = $('#crumbs');
    crumbs.replaceChildren();
    if (region.parent_region) crumbs.append(' › ', el('a', { href: '/region/' + region.parent_region.id, text: TV.name(region.parent_region) }));
    const levels = region.active_alerts.filter((a) => a.status === 'actual').map((a) => a.level || 'red');
    const level = levels.includes('red') ? 'red' : levels[0];
    const s = $('#status');
    s.replaceChildren(TV.badge(region.status, level), ' ', t('level.' + region.level));
    s.dataset.status = region.status;
    const ul = $('#active');
    ul.replaceChildren();
    for (const a of region.active_alerts) {
      ul.append(el('li', { 'data-alert': a.id },
        el('strong', { text: TV.typeName(a.type) }), a.level ? ` (${t('lvl.' + a.level)})` : '', ' — ', regionOf(a), ', ',
        t('since', { t: TV.when(a.started_at, 'dt') }), ', ',
        el('span', { class: 'dur', 'data-since': a.started_at, text: TV.dur(Date.now() - Date.parse(a.started_at)) }),
        ' ', TV.alertFlags(a)));
    }
    if (!region.active_alerts.length) ul.append(el('li', { class: 'muted', text: t('active.empty') }));
  }

  // Hours under alert per Kyiv day (the union of the region's alert intervals), drawn as bars.
  function renderDaily() {
    const now = Date.now();
    const days = [];
    const today = TV.fromKyivInput(TV.toKyivInput(now).slice(0, 10) + 'T00:00');
    for (let i = 29; i >= 0; i--) {
      const start = TV.fromKyivInput(TV.toKyivInput(today - i * DAY + 12 * 3600000).slice(0, 10) + 'T00:00');
      days.push({ start, end: TV.fromKyivInput(TV.toKyivInput(start + 36 * 3600000).slice(0, 10) + 'T00:00'), ms: 0 });
    }
    const spans = past.filter((a) => a.status === 'actual')
      .map((a) => [Date.parse(a.started_at), a.ended_at ? Date.parse(a.ended_at) : now])
      .sort((x, y) => x[0] - y[0]);
    const merged = [];
    for (const s of spans) {
      const last = merged[merged.length - 1];
      if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]); else merged.push(s.slice());
    }
    let total = 0;
    for (const [a, b] of merged) {
      for (const d of days) {
        const ms = Math.min(b, d.end) - Math.max(a, d.start);
        if (ms > 0) { d.ms += ms; total += ms; }
      }
    }
    const n = past.filter((a) => a.status === 'actual').length;
    $('#total').textContent = t('r.count30', { n, d: TV.dur(total) });
    const W = 600, H = 160, L = 28, B = 18, bw = (W - L) / days.length;
    const max = Math.max(1, ...days.map((d) => d.ms / 3600000));
    const top = Math.ceil(max);
    const ns = 'http://www.w3.org/2000/svg';
    const mk = (tag, attrs, text) => {
      const e = document.createElementNS(ns, tag);
      for (const k in attrs) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      return e;
    };
    const svg = mk('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('r.hours') });
    svg.append(mk('line', { class: 'axis', x1: L, y1: H - B, x2: W, y2: H - B }));
    svg.append(mk('text', { x: 0, y: 10 }, `${top} ${TV.lang === 'en' ? 'h' : 'год'}`));
    days.forEach((d, i) => {
      const h = (d.ms / 3600000 / top) * (H - B - 14);
      const x = L + i * bw;
      const bar = mk('rect', { class: 'bar', x: x + 1, y: H - B - h, width: Math.max(1, bw - 2), height: h });
      bar.append(mk('title', {}, `${TV.when(d.start, 'date')}: ${TV.dur(d.ms)}`));
      svg.append(bar);
      if (i % 5 === 0 && i < days.length - 3) svg.append(mk('text', { x: x + 1, y: H - 4 }, TV.when(d.start, 'day')));
      if (i === days.length - 1) svg.append(mk('text', { x: W, y: H - 4, 'text-anchor': 'end' }, TV.when(d.start, 'day')));
    });
    const fig = $('#daily');
    fig.querySelector('svg')?.remove();
    fig.prepend(svg);

    const body = $('#history tbody');
    body.replaceChildren();
    for (const a of past.slice().sort((x, y) => y.started_at.localeCompare(x.started_at))) {
      body.append(el('tr', {},
        el('td', { text: TV.when(a.started_at, 'dt') }),
        el('td', { text: a.ended_at ? TV.when(a.ended_at, 'dt') : t('r.now') }),
        el('td', { text: TV.dur((a.ended_at ? Date.parse(a.ended_at) : now) - Date.parse(a.started_at)) }),
        el('td', {}, TV.typeName(a.type), a.level ? ` (${a.level})` : '', ' ', TV.alertFlags(a)),
        el('td', { text: regionOf(a) })));
    }
  }

  // Statistics from the stats endpoint, for the last 30 days and the last 12 months.
  const FIGURES = [
    ['count', 's.count', (v) => String(v)],
    ['under_alert_seconds', 's.under', (v) => TV.dur(v * 1000)],
    ['share', 's.share', (v) => (v * 100).toFixed(1) + ' %'],
    ['partial_seconds', 's.partial', (v) => TV.dur(v * 1000)],
    ['mean_seconds', 's.mean', (v) => TV.dur(v * 1000)],
    ['median_seconds', 's.median', (v) => TV.dur(v * 1000)],
    ['longest_seconds', 's.longest', (v) => TV.dur(v * 1000)],
    ['longest_started_at', 's.longest_at', (v) => (v ? TV.when(v, 'dt') : '—')],
  ];
  function renderStats() {
    const box = $('#stats');
    box.replaceChildren();
    if (statsState !== 'ok') {
      box.append(el('p', { class: 'muted', text: statsState === 'loading' ? '…' : t('r.nostats') }));
      return;
    }
    const table = el('table', { class: 'stats' },
      el('thead', {}, el('tr', {}, el('th', {}), el('th', { scope: 'col', text: t('s.30') }), el('th', { scope: 'col', text: t('s.365') }))),
      el('tbody', {}, FIGURES.filter(([k]) => k in stats.d30).map(([k, label, fmt]) =>
        el('tr', { 'data-figure': k }, el('th', { scope: 'row', text: t(label) }),
          el('td', { text: fmt(stats.d30[k]) }), el('td', { text: stats.d365 && k in stats.d365 ? fmt(stats.d365[k]) : '—' })))));
    box.append(table);
  }

  function renderCharts() {
    const box = $('#charts');
    box.replaceChildren();
    if (!charts.length) { box.append(el('p', { class: 'muted', text: t('r.nocharts') })); return; }
    for (const c of charts) box.append(el('figure', {}, el('img', { src: c.src, alt: t(c.alt), loading: 'lazy' }), el('figcaption', { class: 'muted', text: t(c.alt) })));
  }

  const render = () => { if (region) { renderStatus(); renderDaily(); } renderStats(); renderCharts(); };

  async function loadRegion() {
    region = await TV.api('/api/v1/regions/' + encodeURIComponent(key));
    if (region.parent) {
      try { region.parent_region = await TV.api('/api/v1/regions/' + region.parent); } catch (_) { /* shown without */ }
    }
    renderStatus();
  }

  // Alerts of the last 30 days on the region, its ancestors (they covered it) and, for an
  // oblast, everything inside it.
  async function loadPast() {
    const from = new Date(Date.now() - 30 * DAY).toISOString();
    const fetchAll = async (query) => {
      const out = [];
      let cursor = null;
      for (let page = 0; page < 20; page++) {
        const q = new URLSearchParams(Object.assign({ from, limit: '1000' }, query));
        if (cursor) q.set('cursor', cursor);
        const r = await TV.api('/api/v1/alerts?' + q);
        out.push(...r.alerts);
        if (!r.next_cursor) break;
        cursor = r.next_cursor;
      }
      return out;
    };
    // The region with everything inside it, and each ancestor (whose alerts covered it).
    const ancestors = [];
    for (let r = region.parent_region; r; r = null) ancestors.push(r.id, ...(r.parent ? [r.parent] : []));
    const parts = await Promise.all([
      fetchAll({ region: String(region.id), include: 'descendants' }),
      ...ancestors.map((id) => fetchAll({ region: String(id) })),
    ]);
    const list = parts.flat();
    const seen = new Set();
    past = list.filter((a) => !seen.has(a.id) && seen.add(a.id));
    renderDaily();
  }

  async function loadStats() {
    const now = Date.now();
    const period = (days) => new URLSearchParams({ from: new Date(now - days * DAY).toISOString(), to: new Date(now).toISOString() });
    try {
      const [d30, d365] = await Promise.all([
        TV.api(`/api/v1/regions/${region.id}/stats?${period(30)}`),
        TV.api(`/api/v1/regions/${region.id}/stats?${period(365)}`).catch(() => null),
      ]);
      stats = { d30, d365 };
      statsState = 'ok';
    } catch (_) {
      statsState = 'missing';
    }
    renderStats();
  }

  // Chart endpoints (SVG) as the server offers them; each is probed before it is shown.
  async function loadCharts() {
    const candidates = [
      { src: `/api/v1/regions/${region.id}/charts/monthly.svg`, alt: 'c.monthly' },
      { src: `/api/v1/charts/heatmap.svg?region=${region.id}`, alt: 'c.heatmap' },
    ];
    charts = [];
    for (const c of candidates) {
      try {
        const r = await fetch(c.src, { method: 'GET', cache: 'no-store' });
        if (r.ok && (r.headers.get('content-type') || '').startsWith('image/svg')) charts.push(c);
      } catch (_) { /* not there */ }
    }
    renderCharts();
  }

  document.addEventListener('DOMContentLoaded', async () => {
    TV.langHooks.push(render);
    try {
      await loadRegion();
    } catch (e) {
      $('#name').textContent = key;
      const err = $('#error');
      err.textContent = e.status === 404 ? t('r.unknown') : e.message;
      err.classList.remove('hidden');
      return;
    }
    TV.follow({ regions: String(region.id) }, region.seq, () => {
      loadRegion().catch(() => {});
      loadPast().catch(() => {});
    });
    await Promise.all([loadPast().catch(() => {}), loadStats(), loadCharts()]);
    document.body.dataset.ready = 'true';
  });
})();
