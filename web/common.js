// Shared by every page: words in two languages, Kyiv time, the API, and map colouring.
'use strict';

const TV = (window.TV = {});

const WORDS = {
  uk: {
    'nav.map': 'Мапа', 'nav.history': 'Історія', 'nav.console': 'Пульт', 'lang': 'English',
    'lang.aria': 'Switch to English', 'clock.aria': 'Київський час', 'skip': 'До змісту',
    'title.map': 'Мапа тривог', 'title.history': 'Відтворення історії', 'title.console': 'Пульт оповіщення',
    'st.active': 'тривога', 'st.partial': 'частково', 'st.none': 'немає тривоги',
    'lvl.red': 'червоний рівень (ракети)', 'lvl.yellow': 'жовтий рівень (дрони)',
    'type.air_raid': 'Повітряна тривога', 'type.artillery_shelling': 'Загроза артобстрілу',
    'type.urban_fights': 'Вуличні бої', 'type.chemical': 'Хімічна загроза', 'type.nuclear': 'Радіаційна загроза',
    'level.oblast': 'область', 'level.raion': 'район', 'level.hromada': 'громада',
    'since': 'з {t}', 'lasted': 'триває {d}', 'duration': 'тривалість {d}',
    'legend.active': 'Тривога', 'legend.yellow': 'Тривога, жовтий рівень', 'legend.partial': 'Частково (район чи громада)',
    'legend.none': 'Немає тривоги',
    'summary': 'Тривога: {a} з 27; частково: {p}.', 'summary.none': 'Зараз тривог немає.', 'loading': 'Завантаження…',
    'active.title': 'Активні тривоги', 'active.empty': 'Активних тривог немає.',
    'all.title': 'Усі області', 'live.on': 'Оновлюється наживо', 'live.off': 'Зʼєднання втрачено, відновлюємо…',
    'announce.start': 'Тривога: {r}', 'announce.end': 'Відбій тривоги: {r}',
    'attrib': 'Межі: © учасники OpenStreetMap, ODbL 1.0.',
    'exercise': 'навчання', 'test': 'тест', 'cancelled': 'скасовано', 'ended': 'завершено',
    'h.from': 'Від (Київ)', 'h.to': 'До (Київ)', 'h.load': 'Завантажити', 'h.play': 'Відтворити', 'h.pause': 'Пауза',
    'h.speed': 'Швидкість', 'h.moment': 'Момент', 'h.loaded': 'Завантажено {n} тривог.', 'h.loading': 'Завантаження…',
    'h.prev': '← Попередня зміна', 'h.next': 'Наступна зміна →', 'h.atmoment': 'Тривоги в цей момент',
    'r.status': 'Стан', 'r.active': 'Активні тривоги', 'r.last30': 'Останні 30 днів', 'r.stats': 'Статистика',
    'r.charts': 'Графіки', 'r.nostats': 'Статистика ще недоступна на цьому сервері.', 'r.nocharts': 'Графіки ще недоступні на цьому сервері.',
    'r.hours': 'Годин тривоги на добу, останні 30 днів', 'r.count30': 'Тривог за 30 днів: {n}, разом {d}.',
    'r.start': 'Початок', 'r.end': 'Кінець', 'r.dur': 'Тривалість', 'r.type': 'Тип', 'r.where': 'Де',
    'r.unknown': 'Такого регіону немає.', 'r.parent': 'Входить до', 'r.now': 'триває',
    'c.token': 'Токен', 'c.signin': 'Увійти', 'c.signout': 'Вийти', 'c.as': 'Ви: {n} ({r})',
    'c.scope': 'Ваші регіони: {s}', 'c.scope.all': 'усі регіони', 'c.search': 'Пошук регіону',
    'c.search.ph': 'назва області, району чи громади', 'c.selected': 'Обрано ({n})', 'c.none': 'Нічого не обрано.',
    'c.type': 'Тип', 'c.level': 'Рівень', 'c.level.none': 'без рівня', 'c.status': 'Режим',
    'c.actual': 'Фактична тривога — для населення', 'c.exercise': 'Навчання — не для населення', 'c.test': 'Тест — не для населення',
    'c.note': 'Примітка (необовʼязково)', 'c.review': 'Перевірити й надіслати…', 'c.outscope': 'поза вашими повноваженнями',
    'c.partscope': 'у межах ваших повноважень лише частина цієї області: оберіть райони чи громади в списку',
    'c.need.regions': 'Оберіть принаймні один регіон.', 'c.need.status': 'Оберіть режим: фактична тривога, навчання чи тест.',
    'c.banner.actual': 'ФАКТИЧНИЙ РЕЖИМ — тривоги отримає населення',
    'c.banner.exercise': 'РЕЖИМ НАВЧАННЯ — НЕ ДЛЯ НАСЕЛЕННЯ',
    'c.confirm.actual': 'ФАКТИЧНА ТРИВОГА — її отримає населення', 'c.confirm.exercise': 'НАВЧАННЯ — населення не отримає',
    'c.confirm.test': 'ТЕСТ — населення не отримає',
    'c.confirm.what': 'Буде надіслано: {t}{l}.', 'c.confirm.to': 'До {n} регіонів:',
    'c.confirm.cover': 'Охоплення (разом із вкладеними) — областей: {o}, районів: {r}, громад: {h}.',
    'c.confirm.people': 'Даних про населення в системі немає; охоплення вказано в регіонах.',
    'c.confirm.dup': 'Вже активна в: {r} — ці регіони сервер відхилить.',
    'c.back': 'Назад', 'c.send': 'Підтвердити: надіслати в {n} регіонів',
    'c.sent': 'Надіслано', 'c.result.ok': 'прийнято (№{id})', 'c.mine': 'Активні тривоги у ваших регіонах',
    'c.end': 'Завершити', 'c.cancel': 'Скасувати (хибна)', 'c.end.q': 'Завершити тривогу №{id}: {t} — {r}?',
    'c.cancel.q': 'Скасувати тривогу №{id} ({t} — {r}) як хибну? Буде оголошено скасування.',
    'c.reason': 'Причина скасування', 'c.do.end': 'Так, завершити', 'c.do.cancel': 'Так, скасувати',
    'c.bad.token': 'Токен не прийнято: {m}', 'c.reader': 'Цей токен не може оголошувати тривоги.',
    'c.none.active': 'Немає активних тривог у ваших регіонах.', 'c.more': '…і ще {n}',
    's.30': '30 днів', 's.365': '12 місяців', 's.count': 'Тривог (на самому регіоні)', 's.under': 'Під тривогою',
    's.share': 'Частка часу', 's.partial': 'Частково (район, громада)', 's.mean': 'Середня тривалість',
    's.median': 'Медіана', 's.longest': 'Найдовша', 's.longest_at': 'Найдовша почалася',
    'c.monthly': 'Години тривоги по місяцях, останні 12 місяців', 'c.heatmap': 'Початки тривог за днем тижня й годиною (Київ), останні 12 місяців',
  },
  en: {
    'nav.map': 'Map', 'nav.history': 'History', 'nav.console': 'Console', 'lang': 'Українська',
    'lang.aria': 'Перейти на українську', 'clock.aria': 'Kyiv time', 'skip': 'Skip to content',
    'title.map': 'Air-raid alert map', 'title.history': 'History playback', 'title.console': 'Issuer console',
    'st.active': 'alert', 'st.partial': 'partial', 'st.none': 'no alert',
    'lvl.red': 'red level (missiles)', 'lvl.yellow': 'yellow level (drones)',
    'type.air_raid': 'Air raid', 'type.artillery_shelling': 'Artillery shelling',
    'type.urban_fights': 'Urban fights', 'type.chemical': 'Chemical threat', 'type.nuclear': 'Nuclear threat',
    'level.oblast': 'oblast', 'level.raion': 'raion', 'level.hromada': 'hromada',
    'since': 'since {t}', 'lasted': 'for {d}', 'duration': 'lasted {d}',
    'legend.active': 'Alert', 'legend.yellow': 'Alert, yellow level', 'legend.partial': 'Partial (raion or hromada)',
    'legend.none': 'No alert',
    'summary': 'Alert: {a} of 27; partial: {p}.', 'summary.none': 'No alerts right now.', 'loading': 'Loading…',
    'active.title': 'Active alerts', 'active.empty': 'No active alerts.',
    'all.title': 'All oblasts', 'live.on': 'Live', 'live.off': 'Connection lost, reconnecting…',
    'announce.start': 'Alert: {r}', 'announce.end': 'All clear: {r}',
    'attrib': 'Boundaries: © OpenStreetMap contributors, ODbL 1.0.',
    'exercise': 'exercise', 'test': 'test', 'cancelled': 'cancelled', 'ended': 'ended',
    'h.from': 'From (Kyiv)', 'h.to': 'To (Kyiv)', 'h.load': 'Load', 'h.play': 'Play', 'h.pause': 'Pause',
    'h.speed': 'Speed', 'h.moment': 'Moment', 'h.loaded': 'Loaded {n} alerts.', 'h.loading': 'Loading…',
    'h.prev': '← Previous change', 'h.next': 'Next change →', 'h.atmoment': 'Alerts at this moment',
    'r.status': 'Status', 'r.active': 'Active alerts', 'r.last30': 'Last 30 days', 'r.stats': 'Statistics',
    'r.charts': 'Charts', 'r.nostats': 'Statistics are not available on this server yet.', 'r.nocharts': 'Charts are not available on this server yet.',
    'r.hours': 'Hours under alert per day, last 30 days', 'r.count30': 'Alerts in 30 days: {n}, {d} in all.',
    'r.start': 'Start', 'r.end': 'End', 'r.dur': 'Duration', 'r.type': 'Type', 'r.where': 'Where',
    'r.unknown': 'There is no such region.', 'r.parent': 'Part of', 'r.now': 'ongoing',
    'c.token': 'Token', 'c.signin': 'Sign in', 'c.signout': 'Sign out', 'c.as': 'Signed in as {n} ({r})',
    'c.scope': 'Your regions: {s}', 'c.scope.all': 'all regions', 'c.search': 'Find a region',
    'c.search.ph': 'oblast, raion or hromada name', 'c.selected': 'Selected ({n})', 'c.none': 'Nothing selected.',
    'c.type': 'Type', 'c.level': 'Level', 'c.level.none': 'no level', 'c.status': 'Mode',
    'c.actual': 'Actual alert — goes to the public', 'c.exercise': 'Exercise — not for the public', 'c.test': 'Test — not for the public',
    'c.note': 'Note (optional)', 'c.review': 'Review and send…', 'c.outscope': 'outside your scope',
    'c.partscope': 'only part of this oblast is in your scope: pick raions or hromadas in the list',
    'c.need.regions': 'Pick at least one region.', 'c.need.status': 'Pick a mode: actual, exercise or test.',
    'c.banner.actual': 'ACTUAL MODE — alerts go to the public',
    'c.banner.exercise': 'EXERCISE MODE — NOT FOR THE PUBLIC',
    'c.confirm.actual': 'ACTUAL ALERT — the public will be alerted', 'c.confirm.exercise': 'EXERCISE — the public will not be alerted',
    'c.confirm.test': 'TEST — the public will not be alerted',
    'c.confirm.what': 'Will go out: {t}{l}.', 'c.confirm.to': 'To {n} regions:',
    'c.confirm.cover': 'Coverage (with everything inside) — oblasts: {o}, raions: {r}, hromadas: {h}.',
    'c.confirm.people': 'No population data is held; coverage is stated in regions.',
    'c.confirm.dup': 'Already active in: {r} — the server will refuse these.',
    'c.back': 'Back', 'c.send': 'Confirm: send to {n} regions',
    'c.sent': 'Sent', 'c.result.ok': 'accepted (#{id})', 'c.mine': 'Active alerts in your regions',
    'c.end': 'End', 'c.cancel': 'Cancel (false alarm)', 'c.end.q': 'End alert #{id}: {t} — {r}?',
    'c.cancel.q': 'Cancel alert #{id} ({t} — {r}) as a false alarm? A cancellation will be announced.',
    'c.reason': 'Reason for cancelling', 'c.do.end': 'Yes, end it', 'c.do.cancel': 'Yes, cancel it',
    'c.bad.token': 'Token not accepted: {m}', 'c.reader': 'This token may not raise alerts.',
    'c.none.active': 'No active alerts in your regions.', 'c.more': '…and {n} more',
    's.30': '30 days', 's.365': '12 months', 's.count': 'Alerts (on the region itself)', 's.under': 'Under alert',
    's.share': 'Share of time', 's.partial': 'Partly (raion, hromada)', 's.mean': 'Mean duration',
    's.median': 'Median', 's.longest': 'Longest', 's.longest_at': 'Longest began',
    'c.monthly': 'Hours under alert by month, last 12 months', 'c.heatmap': 'Alert starts by weekday and hour (Kyiv), last 12 months',
  },
};

const params = new URLSearchParams(location.search);
let stored = null;
try { stored = localStorage.getItem('tryvoga.lang'); } catch (_) { /* private mode */ }
TV.lang = params.get('lang') || stored || ((navigator.language || 'uk').startsWith('en') ? 'en' : 'uk');
if (!WORDS[TV.lang]) TV.lang = 'uk';
TV.langHooks = [];

TV.t = (key, vars) => {
  let s = WORDS[TV.lang][key] ?? WORDS.uk[key] ?? key;
  if (vars) for (const k in vars) s = s.split('{' + k + '}').join(vars[k]);
  return s;
};
TV.$ = (sel, root) => (root || document).querySelector(sel);
TV.$$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
TV.el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false)
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
};

TV.applyWords = (root) => {
  document.documentElement.lang = TV.lang;
  for (const e of TV.$$('[data-t]', root)) e.textContent = TV.t(e.dataset.t);
  for (const e of TV.$$('[data-t-ph]', root)) e.placeholder = TV.t(e.dataset.tPh);
  for (const e of TV.$$('[data-t-aria]', root)) e.setAttribute('aria-label', TV.t(e.dataset.tAria));
  const title = TV.$('[data-title]');
  if (title) document.title = TV.t(title.dataset.title) + ' — Тривога';
};

// Names: regions (API objects or map paths), types, levels, statuses.
TV.name = (r) => (r ? (TV.lang === 'en' ? r.name_en : r.name_uk) : '');
TV.pathName = (p) => p.getAttribute(TV.lang === 'en' ? 'data-name-en' : 'data-name-uk');
TV.shortName = (name) => name.replace(/^м\. /, '').replace(/ область$/, '').replace(/ Oblast$/, '')
  .replace(/^Автономна Республіка /, '').replace(/^Autonomous Republic of /, '');
TV.typeName = (t) => TV.t('type.' + t);
TV.statusName = (s) => TV.t('st.' + s);

// Kyiv time.
const fmtCache = {};
TV.fmt = (kind) => {
  const key = TV.lang + kind;
  if (!fmtCache[key]) {
    const opts = { timeZone: 'Europe/Kyiv', hourCycle: 'h23' };
    if (kind === 'clock') Object.assign(opts, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (kind === 'time') Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
    if (kind === 'full') Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (kind === 'date') Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit' });
    if (kind === 'day') Object.assign(opts, { month: '2-digit', day: '2-digit' });
    if (kind === 'dt') Object.assign(opts, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    fmtCache[key] = new Intl.DateTimeFormat(TV.lang === 'en' ? 'en-GB' : 'uk-UA', opts);
  }
  return fmtCache[key];
};
TV.when = (t, kind) => TV.fmt(kind || 'dt').format(typeof t === 'number' ? new Date(t) : new Date(t));

// The parts of a UTC instant in Kyiv, and the UTC instant of a Kyiv wall-clock time.
const partsFmt = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Kyiv', hourCycle: 'h23',
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
TV.kyivParts = (ms) => {
  const p = {};
  for (const x of partsFmt.formatToParts(new Date(ms))) p[x.type] = x.value;
  return p;
};
TV.kyivOffset = (ms) => {
  const p = TV.kyivParts(ms);
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
};
// "YYYY-MM-DDTHH:MM" in Kyiv → ms since the epoch.
TV.fromKyivInput = (s) => {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(s || '');
  if (!m) return NaN;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  let t = wall - TV.kyivOffset(wall);
  t = wall - TV.kyivOffset(t);
  return t;
};
TV.toKyivInput = (ms) => {
  const p = TV.kyivParts(ms);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
};

TV.dur = (ms) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const uk = TV.lang !== 'en';
  const u = uk ? { d: 'д', h: 'год', m: 'хв', s: 'с' } : { d: 'd', h: 'h', m: 'min', s: 's' };
  const pad = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d} ${u.d} ${h} ${u.h}`;
  if (h > 0) return `${h} ${u.h} ${pad(m)} ${u.m}`;
  if (m > 0) return `${m} ${u.m} ${pad(sec)} ${u.s}`;
  return `${sec} ${u.s}`;
};

// The API: JSON in and out; failures carry the status and the server's error object.
TV.api = async (path, opts = {}) => {
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
  let body;
  if (opts.body !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.body); }
  const r = await fetch(path, { method: opts.method || 'GET', headers, body, cache: 'no-store' });
  let data = null;
  try { data = await r.json(); } catch (_) { /* empty body */ }
  if (!r.ok) {
    const err = new Error((data && data.error && data.error.message) || r.status + ' ' + r.statusText);
    err.status = r.status; err.code = data && data.error && data.error.code; err.data = data;
    throw err;
  }
  return data;
};

// Status of each oblast from a list of alerts: `active` if an alert is on the oblast itself,
// `partial` if only on a raion or hromada in it; level is the most severe that makes it so.
// Drills (exercise, test) never colour the public map.
const SEVERITY = { red: 2, yellow: 1 };
TV.statuses = (alerts) => {
  const out = new Map();
  for (const a of alerts) {
    if (a.status !== 'actual') continue;
    const id = a.region.level === 'oblast' ? a.region.id : a.region.oblast_id;
    const status = a.region.level === 'oblast' ? 'active' : 'partial';
    let s = out.get(id);
    if (!s) out.set(id, (s = { status: 'none', level: null, alerts: [] }));
    s.alerts.push(a);
    const rank = { none: 0, partial: 1, active: 2 };
    if (rank[status] > rank[s.status]) { s.status = status; s.level = a.level || 'red'; }
    else if (status === s.status && (SEVERITY[a.level || 'red'] > SEVERITY[s.level])) s.level = a.level || 'red';
  }
  return out;
};

// Colours the map: data-status and data-level on every region, and a label that says it.
TV.paint = (svg, statuses) => {
  let active = 0, partial = 0;
  for (const p of svg.querySelectorAll('path.rg')) {
    const id = +p.dataset.region;
    const s = statuses.get(id) || { status: 'none', level: null };
    if (s.status === 'active') active++;
    if (s.status === 'partial') partial++;
    if (p.dataset.status !== s.status) p.dataset.status = s.status;
    if (s.level && s.status !== 'none') p.dataset.level = s.level; else delete p.dataset.level;
    const lvl = s.status !== 'none' && s.level ? ', ' + TV.t('lvl.' + s.level) : '';
    p.setAttribute('aria-label', `${TV.pathName(p)}: ${TV.statusName(s.status)}${lvl}`);
    const lbl = svg.querySelector(`text.lbl[data-for="${id}"]`);
    if (lbl) {
      lbl.dataset.status = s.status;
      if (s.level && s.status === 'active') lbl.dataset.level = s.level; else delete lbl.dataset.level;
      lbl.textContent = id === 31 ? (TV.lang === 'en' ? 'Kyiv City' : 'м. Київ') : TV.shortName(TV.pathName(p));
    }
  }
  return { active, partial };
};

TV.badge = (status, level) => TV.el('span', { class: `badge ${status}${level === 'yellow' ? ' yellow' : ''}`,
  text: TV.statusName(status) + (status !== 'none' && level === 'yellow' ? ' · ' + (TV.lang === 'en' ? 'yellow' : 'жовта') : '') });

TV.alertFlags = (a) => [
  a.status !== 'actual' ? TV.el('span', { class: 'badge ex', text: TV.t(a.status) }) : null,
  a.cancelled ? TV.el('span', { class: 'badge cancelled', text: TV.t('cancelled') }) : null,
];

// Elements with data-since tick every second with how long the alert has lasted.
TV.tickDurations = () => {
  const now = Date.now();
  for (const e of TV.$$('[data-since]')) e.textContent = TV.dur(now - Date.parse(e.dataset.since));
};

// The header: clock in Kyiv time, language switch.
TV.start = () => {
  TV.applyWords();
  const clock = TV.$('#clock');
  const tick = () => {
    if (clock) {
      clock.textContent = TV.fmt('clock').format(new Date());
      clock.setAttribute('datetime', new Date().toISOString());
    }
    TV.tickDurations();
  };
  tick();
  setInterval(tick, 1000);
  const btn = TV.$('#lang');
  if (btn) btn.addEventListener('click', () => {
    TV.lang = TV.lang === 'uk' ? 'en' : 'uk';
    try { localStorage.setItem('tryvoga.lang', TV.lang); } catch (_) { /* private mode */ }
    TV.applyWords();
    tick();
    for (const h of TV.langHooks) h();
  });
};

// Follows the stream: calls onEvent(kind, data) for alert events, from after `seq`; keeps
// going across reconnects (EventSource resumes with Last-Event-ID); onState(true|false).
TV.follow = (query, seq, onEvent, onState) => {
  const url = '/api/v1/stream?' + new URLSearchParams(Object.assign({ after: String(seq) }, query));
  let es;
  const open = (u) => {
    es = new EventSource(u);
    for (const kind of ['alert.started', 'alert.updated', 'alert.ended', 'alert.cancelled']) {
      es.addEventListener(kind, (m) => {
        let data;
        try { data = JSON.parse(m.data); } catch (_) { return; }
        onEvent(kind, data);
      });
    }
    es.onopen = () => onState && onState(true);
    es.onerror = () => {
      onState && onState(false);
      if (es.readyState === EventSource.CLOSED) setTimeout(() => onState && onState('reload'), 2000);
    };
  };
  open(url);
  return { close: () => es.close() };
};

document.addEventListener('DOMContentLoaded', TV.start);
