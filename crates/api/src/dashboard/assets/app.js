// The Databox dashboard: one small script, served by the box, drawing every page from the box's
// own JSON API. No framework and no third-party code: the box may be offline, and nothing here
// may call anywhere but the box. Every piece of text from the API is inserted as text (never as
// HTML), so names chosen by apps cannot inject markup.

const CSRF = document.querySelector('script[data-csrf]')?.dataset.csrf ?? '';
const main = document.getElementById('main');

// ---------------------------------------------------------------- small helpers

/** Builds an element: h('a', {href: '/x'}, 'text', child, ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const svgNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Calls the box's API. Throws an Error with the box's own message on failure. */
async function api(method, path, body, { raw = false, type } = {}) {
  const headers = { 'X-CSRF-Token': CSRF };
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string' || body instanceof Blob || body instanceof ArrayBuffer) {
      payload = body;
      headers['Content-Type'] = type ?? 'text/plain';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  const res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (res.status === 401) {
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
    throw new Error('your session has ended: log in again');
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const e = await res.json();
      if (e.error) msg = e.error;
    } catch { /* not JSON */ }
    throw new Error(msg);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  const ct = res.headers.get('content-type') ?? '';
  return ct.includes('json') ? res.json() : res.text();
}

const enc = encodeURIComponent;

function toast(message, kind = 'ok') {
  const t = document.getElementById('toast');
  t.className = 'toast ' + kind;
  t.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; t.className = ''; }, 6000);
}

/** Runs an action from a button, showing its outcome; the button is disabled meanwhile. */
async function act(button, fn, done) {
  if (button) button.disabled = true;
  try {
    const out = await fn();
    if (done) toast(typeof done === 'function' ? done(out) : done);
    return out;
  } catch (e) {
    toast(e.message, 'error');
    throw e;
  } finally {
    if (button) button.disabled = false;
  }
}

const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '—');
const fmtShortTime = (ms, span) => {
  const d = new Date(ms);
  if (span <= 2 * 86400e3) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (span <= 90 * 86400e3) return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString([], { hour: '2-digit' });
  return d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
};
function fmtBytes(n) {
  const u = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}
const fmtNum = (x) => (Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toLocaleString() : x.toPrecision(4));
function ago(ms) {
  const d = (Date.now() - ms) / 1000;
  if (d < 60) return 'just now';
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} days ago`;
}

function badge(text, kind) {
  return h('span', { class: 'badge ' + kind }, text);
}

function stateBadge(status, name) {
  const st = status?.state ?? 'unknown';
  const kind = { running: 'ok', starting: 'info', stopped: 'muted', failing: 'warn', broken: 'bad' }[st] ?? 'muted';
  const b = badge(st, kind);
  if (name) b.dataset.stateOf = name;
  return b;
}

// While a page showing components is open, their states follow the box every few seconds (a
// component starts, fails or recovers in the background).
let stateWatch = null;
function watchStates(onPath) {
  clearTimeout(stateWatch);
  const tick = async () => {
    if (location.pathname !== onPath) return;
    const list = await api('GET', '/api/v1/components').catch(() => null);
    for (const c of list ?? []) {
      const el = document.querySelector(`[data-state-of="${CSS.escape(c.name)}"]`);
      if (el && el.textContent !== (c.status?.state ?? 'unknown')) el.replaceWith(stateBadge(c.status, c.name));
    }
    stateWatch = setTimeout(tick, 3000);
  };
  stateWatch = setTimeout(tick, 1500);
}

function table(headers, rows, { caption, empty = 'Nothing yet.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

function section(title, ...children) {
  const id = 'sec-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function page(title, ...children) {
  document.title = `${title} · Databox`;
  main.replaceChildren(h('h1', {}, title), ...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text);
}

/** Words for an audit record, for people. */
function describeRecord(r) {
  const who = r.principal ?? 'someone';
  const what = r.operation ?? r.kind;
  const where = [r.store, r.datasource].filter(Boolean).join('/');
  return `${who} — ${what}${where ? ' ' + where : ''}${r.count ? ` (${r.count})` : ''}`;
}

function outcomeBadge(o) {
  return badge(o ?? 'ok', { ok: 'ok', refused: 'bad', failed: 'warn' }[o ?? 'ok'] ?? 'muted');
}

// ---------------------------------------------------------------- pages

async function homePage() {
  const [status, comps, stores, recent, verify] = await Promise.all([
    api('GET', '/api/v1/box'),
    api('GET', '/api/v1/components').catch(() => []),
    api('GET', '/api/v1/stores'),
    api('GET', '/api/v1/audit?limit=12'),
    api('GET', '/api/v1/audit/verify').catch((e) => ({ error: e.message })),
  ]);
  const attention = [];
  if (status.exports_waiting) attention.push(h('li', {}, link('/exports', `${status.exports_waiting} export(s) wait for your decision`)));
  for (const c of comps.filter((c) => ['failing', 'broken'].includes(c.status?.state))) {
    attention.push(h('li', {}, link('/apps#' + c.name, `${c.name} is ${c.status.state}`), c.last_error ? `: ${c.last_error}` : ''));
  }
  if (status.components_problem) attention.push(h('li', {}, link('/apps', 'Some apps and drivers could not be read'), `: ${status.components_problem}`));
  if (status.disk_nearly_full) attention.push(h('li', {}, `The disk is nearly full: ${fmtBytes(status.disk_used_bytes)} of ${fmtBytes(status.disk_total_bytes)} used.`));
  if (!status.password_set) attention.push(h('li', {}, link('/settings', 'Set a dashboard password'), ' so you can log in without a one-time link.'));
  if (verify.error || verify.first_bad) attention.push(h('li', {}, link('/audit', 'The audit log failed verification'), '.'));

  const userStores = stores.filter((st) => st.id !== 'exports');
  page('Your box',
    section('Needs your attention',
      attention.length ? h('ul', { class: 'attention' }, attention) : h('p', { class: 'all-good' }, 'Nothing needs you right now.')),
    h('div', { class: 'cards' },
      h('div', { class: 'card' }, h('h3', {}, 'Data sources'),
        h('p', { class: 'big' }, String(userStores.reduce((n, st) => n + st.datasources.length, 0))),
        h('p', {}, `in ${userStores.length} store(s) `, link('/data', 'Browse'))),
      h('div', { class: 'card' }, h('h3', {}, 'Apps and drivers'),
        h('p', { class: 'big' }, String(comps.length)),
        h('p', {}, `${comps.filter((c) => c.status?.state === 'running').length} running `, link('/apps', 'Manage'))),
      h('div', { class: 'card' }, h('h3', {}, 'Disk'),
        h('p', { class: 'big' }, status.disk_total_bytes ? `${Math.round((100 * status.disk_used_bytes) / status.disk_total_bytes)}%` : '—'),
        h('p', {}, `${fmtBytes(status.disk_used_bytes)} of ${fmtBytes(status.disk_total_bytes)}`)),
      h('div', { class: 'card' }, h('h3', {}, 'Audit log'), verifyBadge(verify))),
    section('Apps and drivers',
      table(['Name', 'Kind', 'State', ''], comps.map((c) => [
        h('strong', {}, c.name), c.kind, stateBadge(c.status, c.name), c.url ? link(c.url, 'Open') : '',
      ]), { empty: 'None installed yet. ' })),
    section('Recent activity',
      table(['When', 'What', 'Outcome'], recent.slice().reverse().map((r) => [
        h('time', { datetime: new Date(r.time).toISOString(), title: fmtTime(r.time) }, ago(r.time)),
        describeRecord(r), outcomeBadge(r.outcome),
      ])),
      h('p', {}, link('/audit', 'The whole audit log'))));
  watchStates('/');
}

function verifyBadge(v) {
  if (v.error) return h('p', { class: 'verify bad', role: 'status' }, 'Could not verify: ' + v.error);
  if (v.first_bad) {
    return h('p', { class: 'verify bad', role: 'status', 'data-verified': 'false' },
      `✗ Tampering found at record ${v.first_bad.seq ?? ''}: ${v.first_bad.reason ?? JSON.stringify(v.first_bad)}`);
  }
  return h('p', { class: 'verify ok', role: 'status', 'data-verified': 'true' },
    `✓ Verified: ${v.records.toLocaleString()} records, ${v.checkpoints} signed checkpoint(s), chain intact`);
}

// ----- data

async function dataPage() {
  const stores = await api('GET', '/api/v1/stores');
  page('Data sources',
    h('p', { class: 'lead' }, 'Each source keeps its data in its own encrypted store on this box.'),
    stores.map((st) => section(`Store: ${st.id}`,
      st.description ? h('p', {}, st.description) : null,
      st.id === 'exports' ? h('p', { class: 'note' }, 'The export service\'s own queue and receipts.') : null,
      table(['Datasource', 'Kind', 'About', 'Retention'], st.datasources.map((d) => [
        link(`/data/${enc(st.id)}/${enc(d.id)}`, d.id),
        kindName(d.meta.store_type),
        [d.meta.description, d.meta.unit ? ` (${d.meta.unit})` : ''].join(''),
        d.retention ? `${d.retention.keep_days} days` : 'kept',
      ]), { empty: 'No datasources yet.' }))));
}

const kindName = (t) => ({ ts: 'time series', 'ts/blob': 'records', kv: 'key-value' }[t] ?? t);

async function datasourcePage(store, ds) {
  const meta = await api('GET', `/api/v1/stores/${enc(store)}/datasources/${enc(ds)}`);
  const type = meta.meta?.store_type ?? meta.store_type;
  const base = `/api/v1/stores/${enc(store)}/${type === 'kv' ? 'kv' : 'ts'}/${enc(ds)}`;
  const title = `${store} / ${ds}`;
  const about = h('p', { class: 'lead' }, meta.meta?.description ?? '', meta.meta?.unit ? ` — unit: ${meta.meta.unit}` : '');
  const back = h('p', {}, link('/data', '← All data sources'));
  if (type === 'kv') {
    const keys = await api('GET', `${base}/keys`);
    const shown = keys.slice(0, 200);
    const values = await Promise.all(shown.map((k) => api('GET', `${base}/key/${enc(k)}`).catch((e) => `(${e.message})`)));
    page(title, back, about,
      downloads(base, null),
      section('Keys and values',
        table(['Key', 'Value'], shown.map((k, i) => [h('code', {}, k), h('code', { class: 'json' }, JSON.stringify(values[i]))]),
          { empty: 'No keys yet.', caption: keys.length > 200 ? `The first 200 of ${keys.length} keys` : undefined })));
    return;
  }
  const view = { from: null, to: null };
  const chartBox = h('div', { class: 'chart-box' });
  const tableBox = h('div');
  const rangeLabel = h('p', { class: 'range-label', 'aria-live': 'polite' });
  const downloadBox = h('div');
  const refresh = async () => {
    downloadBox.replaceChildren(downloads(base, view));
    if (type === 'ts') await drawChart(base, view, chartBox, rangeLabel, (from, to) => { view.from = from; view.to = to; refresh(); });
  };
  const span = (ms) => () => { const now = Date.now(); view.from = now - ms; view.to = now; refresh(); };
  const zoom = (factor) => () => {
    if (view.from === null) return;
    const mid = (view.from + view.to) / 2, half = ((view.to - view.from) / 2) * factor;
    view.from = Math.round(mid - half); view.to = Math.round(mid + half); refresh();
  };
  const controls = type === 'ts' ? h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Time range' },
    h('button', { type: 'button', onclick: span(3600e3) }, 'Hour'),
    h('button', { type: 'button', onclick: span(86400e3) }, 'Day'),
    h('button', { type: 'button', onclick: span(7 * 86400e3) }, 'Week'),
    h('button', { type: 'button', onclick: span(30 * 86400e3) }, 'Month'),
    h('button', { type: 'button', onclick: span(365 * 86400e3) }, 'Year'),
    h('button', { type: 'button', onclick: () => { view.from = view.to = null; refresh(); } }, 'All'),
    h('button', { type: 'button', onclick: zoom(0.5), 'aria-label': 'Zoom in' }, '+'),
    h('button', { type: 'button', onclick: zoom(2), 'aria-label': 'Zoom out' }, '−')) : null;

  const latest = await api('GET', `${base}/last/20`);
  tableBox.replaceChildren(type === 'ts'
    ? table(['Time', 'Value', 'Tags'], latest.map((p) => {
      const { value, ...tags } = p.data;
      return [fmtTime(p.timestamp), fmtNum(value), Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(', ')];
    }), { caption: 'The newest 20 points', empty: 'No points yet.' })
    : table(['Time', 'Record'], latest.map((p) => [fmtTime(p.timestamp), h('code', { class: 'json' }, JSON.stringify(p.data))]),
      { caption: 'The newest 20 records', empty: 'No records yet.' }));

  page(title, back, about,
    type === 'ts' ? section('Chart', controls, rangeLabel, chartBox,
      h('p', { class: 'note' }, 'Drag across the chart to zoom into a period. Long ranges show each period\'s lowest, average and highest value.')) : null,
    section('Latest', tableBox),
    downloadBox,
    section('Delete a range', deleteForm(base, refresh)),
    section('Retention', retentionForm(store, ds, meta.retention)));
  await refresh();
}

function downloads(base, view) {
  const q = (fmt) => {
    const p = new URLSearchParams({ format: fmt });
    if (view?.from != null) { p.set('from', Math.round(view.from)); p.set('to', Math.round(view.to)); }
    return `${base}/download?${p}`;
  };
  return section('Download',
    h('p', {}, view?.from != null ? 'The range shown above, ' : 'Everything, ', 'as ',
      h('a', { href: q('csv'), download: '' }, 'CSV'), ' or ', h('a', { href: q('json'), download: '' }, 'JSON'), '.'));
}

async function drawChart(base, view, box, label, onZoom) {
  const p = new URLSearchParams({ points: String(Math.min(600, Math.max(60, Math.floor((box.clientWidth || 600) / 2)))) });
  if (view.from != null) { p.set('from', view.from); p.set('to', view.to); }
  let data;
  try {
    data = await api('GET', `${base}/chart?${p}`);
  } catch (e) {
    box.replaceChildren(h('p', { class: 'error' }, e.message));
    return;
  }
  view.from = data.from; view.to = data.to;
  const n = data.buckets.reduce((a, b) => a + b.count, 0);
  label.textContent = `${fmtTime(data.from)} – ${fmtTime(data.to)}: ${n.toLocaleString()} points` +
    (data.buckets.some((b) => b.count > 1) ? `, in periods of ${humanSpan(data.width_ms)}` : '');
  if (!data.buckets.length) { box.replaceChildren(h('p', { class: 'empty' }, 'No points in this range.')); return; }
  const W = 800, H = 280, L = 56, R = 12, T = 12, B = 28;
  const lo = Math.min(...data.buckets.map((b) => b.min)), hi = Math.max(...data.buckets.map((b) => b.max));
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
  const y0 = lo - pad, y1 = hi + pad;
  const X = (t) => L + ((t - data.from) / Math.max(1, data.to - data.from)) * (W - L - R);
  const Y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const mid = (b) => b.start + Math.min(data.width_ms, data.to - b.start) / 2;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `Chart of ${label.textContent}` });
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: 'grid' }),
      s('text', { x: L - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmtNum(+v.toPrecision(3))));
  }
  for (let i = 0; i <= 4; i++) {
    const t = data.from + ((data.to - data.from) * i) / 4;
    svg.append(s('text', { x: X(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'axis' }, fmtShortTime(t, data.to - data.from)));
  }
  const bs = data.buckets;
  if (bs.some((b) => b.count > 1)) {
    const band = bs.map((b) => `${X(mid(b))},${Y(b.max)}`).concat(bs.slice().reverse().map((b) => `${X(mid(b))},${Y(b.min)}`));
    svg.append(s('polygon', { points: band.join(' '), class: 'band' }));
  }
  svg.append(s('polyline', { points: bs.map((b) => `${X(mid(b))},${Y(b.mean)}`).join(' '), class: 'line' }));
  if (bs.length < 80) for (const b of bs) svg.append(s('circle', { cx: X(mid(b)), cy: Y(b.mean), r: 2.5, class: 'dot' }));
  const sel = s('rect', { y: T, height: H - T - B, width: 0, class: 'selection', visibility: 'hidden' });
  svg.append(sel);
  // Drag to zoom: the selection maps back to time through the same scale.
  let startX = null;
  const toSvgX = (e) => { const r = svg.getBoundingClientRect(); return ((e.clientX - r.left) / r.width) * W; };
  svg.addEventListener('pointerdown', (e) => { startX = toSvgX(e); svg.setPointerCapture(e.pointerId); });
  svg.addEventListener('pointermove', (e) => {
    if (startX === null) return;
    const x = toSvgX(e);
    sel.setAttribute('x', Math.min(x, startX)); sel.setAttribute('width', Math.abs(x - startX)); sel.setAttribute('visibility', 'visible');
  });
  svg.addEventListener('pointerup', (e) => {
    if (startX === null) return;
    const x = toSvgX(e), a = Math.min(x, startX), b = Math.max(x, startX);
    startX = null; sel.setAttribute('visibility', 'hidden');
    if (b - a < 5) return;
    const t = (px) => data.from + ((px - L) / (W - L - R)) * (data.to - data.from);
    onZoom(Math.round(Math.max(data.from, t(a))), Math.round(Math.min(data.to, t(b))));
  });
  box.replaceChildren(svg);
}

function humanSpan(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120e3) return `${Math.round(ms / 1000)} s`;
  if (ms < 7200e3) return `${Math.round(ms / 60e3)} min`;
  if (ms < 172800e3) return `${Math.round(ms / 3600e3)} h`;
  return `${Math.round(ms / 86400e3)} days`;
}

const localInput = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60e3).toISOString().slice(0, 16);

function deleteForm(base, after) {
  const from = h('input', { type: 'datetime-local', id: 'del-from', required: true, value: localInput(Date.now() - 3600e3) });
  const to = h('input', { type: 'datetime-local', id: 'del-to', required: true, value: localInput(Date.now()) });
  const button = h('button', { type: 'submit', class: 'danger' }, 'Delete these points');
  return h('form', {
    class: 'inline-form',
    onsubmit: async (e) => {
      e.preventDefault();
      const a = new Date(from.value).getTime(), b = new Date(to.value).getTime();
      if (!(a <= b)) { toast('The start must come before the end.', 'error'); return; }
      if (!confirm(`Delete every point from ${fmtTime(a)} to ${fmtTime(b)}? This cannot be undone.`)) return;
      await act(button, () => api('DELETE', `${base}/range/${a}/${b}`), (r) => `Deleted ${r?.deleted ?? 'the'} point(s).`);
      after();
    },
  }, h('label', { for: 'del-from' }, 'From'), from, h('label', { for: 'del-to' }, 'To'), to, button);
}

function retentionForm(store, ds, current) {
  const days = h('input', { type: 'number', id: 'keep-days', min: 1, max: 36500, value: current?.keep_days ?? 365 });
  const hourly = h('input', { type: 'checkbox', id: 'keep-hourly', checked: current?.downsample_hourly ?? true });
  const path = `/api/v1/stores/${enc(store)}/datasources/${enc(ds)}/retention`;
  const save = h('button', { type: 'submit' }, 'Save');
  const forget = h('button', { type: 'button', onclick: () => act(forget, () => api('DELETE', path), 'Everything is kept from now on.') }, 'Keep everything');
  return h('div', {},
    h('p', {}, current ? `Now: raw points are kept for ${current.keep_days} days${current.downsample_hourly ? ', then as hourly summaries' : ''}.` : 'Now: everything is kept.'),
    h('form', {
      class: 'inline-form',
      onsubmit: (e) => {
        e.preventDefault();
        act(save, () => api('PUT', path, { keep_days: Number(days.value), downsample_hourly: hourly.checked }), `Points older than ${days.value} days will be removed.`);
      },
    }, h('label', { for: 'keep-days' }, 'Keep raw points for (days)'), days,
    h('label', { class: 'check' }, hourly, ' keep hourly summaries of older points'), save, forget));
}

// ----- apps and drivers

async function appsPage() {
  const [installed, available] = await Promise.all([
    api('GET', '/api/v1/components'),
    api('GET', '/api/v1/components/available').catch(() => []),
  ]);
  const rows = installed.map((c) => componentCard(c));
  page('Apps and drivers',
    h('p', { class: 'lead' }, 'Apps work on your data inside the box; drivers bring data in. Each runs sandboxed, with only what you allowed.'),
    section('Installed', rows.length ? h('div', { class: 'stack' }, rows) : h('p', { class: 'empty' }, 'Nothing installed yet.')),
    section('Catalogue',
      table(['Name', 'Kind', 'What it does', ''], available.map((a) => [
        h('strong', {}, a.name), a.kind, a.description,
        a.installed ? `installed (${a.installed})` : link(`/apps/install/${enc(a.name)}`, 'Review and install', { class: 'button' }),
      ]), { empty: 'No first-party components in this build.' })),
    section('Install from files', uploadForm()));
  watchStates('/apps');
}

// A component's last problem: in red while it is current, as a note once a handler has run
// well since.
function lastProblem(c) {
  if (!c.last_error) return null;
  const over = c.last_ok_ms && c.last_error_ms && c.last_ok_ms > c.last_error_ms;
  return over
    ? h('p', { class: 'note' }, `Last problem (${fmtTime(c.last_error_ms)}; it has worked since): ${c.last_error}`)
    : h('p', { class: 'error' }, `Last problem (${fmtTime(c.last_error_ms)}): ${c.last_error}`);
}

function componentCard(c) {
  const logs = h('div', { class: 'logs', hidden: true });
  const path = `/api/v1/components/${enc(c.name)}`;
  const reload = () => route();
  const action = (name) => {
    const b = h('button', { type: 'button', onclick: () => act(b, () => api('POST', `${path}/${name}`), `${c.name}: ${name} done`).then(reload) }, name[0].toUpperCase() + name.slice(1));
    return b;
  };
  const erase = h('input', { type: 'checkbox', id: `erase-${c.name}` });
  const uninstall = h('button', {
    type: 'button', class: 'danger',
    onclick: () => {
      const what = erase.checked ? ' and ERASE its data' : ' (its data is kept)';
      if (!confirm(`Uninstall ${c.name}${what}?`)) return;
      act(uninstall, () => api('DELETE', `${path}${erase.checked ? '?erase=true' : ''}`), `${c.name} uninstalled`).then(reload);
    },
  }, 'Uninstall');
  const showLogs = h('button', {
    type: 'button', 'aria-expanded': 'false',
    onclick: async () => {
      if (!logs.hidden) { logs.hidden = true; showLogs.setAttribute('aria-expanded', 'false'); return; }
      const lines = await act(showLogs, () => api('GET', `${path}/logs`));
      logs.replaceChildren(h('pre', {}, lines.map((l) => `${fmtTime(l.at_ms)}  ${l.line}`).join('\n') || '(no lines yet)'));
      logs.hidden = false; showLogs.setAttribute('aria-expanded', 'true');
    },
  }, 'Logs');
  const devices = c.kind === 'driver' ? devicesBox(c) : null;
  const running = ['running', 'starting', 'failing'].includes(c.status?.state);
  return h('article', { class: 'card component', id: c.name, 'aria-label': c.name },
    h('header', {}, h('h3', {}, c.name, ' ', h('small', {}, `${c.kind} ${c.version}`)), stateBadge(c.status, c.name)),
    h('p', {}, c.description),
    lastProblem(c),
    c.status?.state === 'failing' && c.status.retry_ms ? h('p', { class: 'note' }, `Next try ${fmtTime(c.status.retry_ms)}`) : null,
    Object.keys(c.mapping ?? {}).length ? h('p', {}, 'Uses: ', Object.entries(c.mapping).map(([k, v]) => `${k} → ${v ?? 'declined'}`).join('; ')) : null,
    h('div', { class: 'toolbar' },
      c.url ? link(c.url, 'Open its page', { class: 'button' }) : null,
      running ? action('stop') : action('start'), action('restart'), showLogs,
      h('span', { class: 'erase' }, erase, h('label', { for: `erase-${c.name}` }, 'erase its data')), uninstall),
    logs, devices);
}

/** The devices that push to a driver (phones), and a form to add one: its token is shown once,
 *  with a QR code, and the address to enter in the phone's app. */
function devicesBox(c) {
  const out = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const name = h('input', { id: `dev-${c.name}`, placeholder: 'e.g. alices-phone', pattern: '[a-z][a-z0-9-]{0,63}', required: true });
  const b = h('button', { type: 'submit' }, 'Add a device');
  const load = async () => {
    const ds = await api('GET', `/api/v1/components/${enc(c.name)}/devices`).catch(() => []);
    list.replaceChildren(ds.length
      ? h('p', {}, 'Devices that may push here: ', ds.map((d) => d.id).join(', '), ' (revoke one under ', link('/access', 'Access'), ').')
      : h('p', { class: 'note' }, 'No device may push here yet.'));
  };
  load();
  return h('details', { class: 'devices' }, h('summary', {}, 'Devices'),
    list,
    h('form', {
      class: 'inline-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const made = await act(b, () => api('POST', `/api/v1/components/${enc(c.name)}/devices`, { device: name.value }), 'Device added: its token is shown only now.');
        const qr = URL.createObjectURL(await (await api('POST', '/api/v1/qr', made.token, { raw: true })).blob());
        out.replaceChildren(
          h('p', {}, `In the phone's app, enter the address `, h('code', {}, location.origin + made.path), ' followed by the path its page names for that app, and this token as the password (any user name) or as a Bearer token.'),
          h('img', { src: qr, alt: `QR code of the token for ${made.device}`, width: 240, height: 240, class: 'qr' }),
          h('label', { for: `tok-${made.device}` }, 'The token'),
          h('textarea', { id: `tok-${made.device}`, readonly: true, rows: 4 }, made.token));
        load();
      },
    }, h('label', { for: `dev-${c.name}` }, 'Device name'), name, b),
    out);
}

function uploadForm() {
  const manifest = h('input', { type: 'file', id: 'up-manifest', accept: '.toml', required: true });
  const wasm = h('input', { type: 'file', id: 'up-wasm', accept: '.wasm', required: true });
  const b = h('button', { type: 'submit' }, 'Review');
  return h('form', {
    class: 'stack',
    onsubmit: async (e) => {
      e.preventDefault();
      const text = await manifest.files[0].text();
      const bytes = new Uint8Array(await wasm.files[0].arrayBuffer());
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      const review = await act(b, () => api('POST', '/api/v1/components/review', text, { type: 'application/toml' }));
      showReview(review, (choices) => api('POST', '/api/v1/components', { manifest: text, wasm_base64: btoa(bin), ...choices }));
    },
  },
  h('p', {}, 'A component you built (see ', h('code', {}, 'databox new'), '): its manifest and its .wasm file.'),
  h('label', { for: 'up-manifest' }, 'Manifest (databox.toml)'), manifest,
  h('label', { for: 'up-wasm' }, 'Component (.wasm)'), wasm, b);
}

async function installPage(name) {
  const review = await api('POST', `/api/v1/components/available/${enc(name)}/review`);
  showReview(review, (choices) => api('POST', `/api/v1/components/available/${enc(name)}/install`, choices));
}

/** The permission review: what the component would get, in plain language, with a choice for
 *  each optional request. Nothing is installed until the owner presses the button. */
function showReview(review, install) {
  const choices = review.candidates.map((c) => {
    const id = `map-${c.request}`;
    const select = h('select', { id, name: c.request, required: c.required },
      c.matches.map((m) => h('option', { value: m }, m)),
      c.required ? null : h('option', { value: '' }, 'Don\'t allow'));
    const none = !c.matches.length;
    return {
      c, select, none,
      el: h('div', { class: 'choice' },
        h('label', { for: id }, c.required ? `${c.request} (needed)` : `${c.request} (optional)`),
        none ? h('p', { class: 'error' }, c.required ? 'No datasource on this box can serve this: install a driver that provides it first.' : 'No datasource on this box can serve this; it will be declined.') : select),
    };
  });
  const config = (review.config ?? []).map((f) => {
    const input = h('input', { id: `cfg-${f.key}`, type: f.secret ? 'password' : 'text', value: f.default ?? '', required: f.required });
    return { f, input, el: h('div', { class: 'choice' }, h('label', { for: `cfg-${f.key}` }, `${f.description} (${f.key})`), input) };
  });
  const approve = review.upgrade_asks?.length ? h('input', { type: 'checkbox', id: 'approve-upgrade', required: true }) : null;
  const b = h('button', { type: 'submit', class: 'primary' }, review.upgrade_asks ? 'Upgrade' : 'Install');
  page(`Install ${review.name}`,
    h('p', {}, link('/apps', '← Apps and drivers')),
    h('p', { class: 'lead' }, `${review.kind} ${review.version}: ${review.description}`),
    section('What it asks for', h('ul', { class: 'review' }, review.review.map((line) => h('li', {}, line)))),
    review.upgrade_asks ? section('New in this version', review.upgrade_asks.length
      ? h('ul', {}, review.upgrade_asks.map((l) => h('li', {}, l))) : h('p', {}, 'Nothing more than the installed version.')) : null,
    h('form', {
      class: 'stack',
      onsubmit: async (e) => {
        e.preventDefault();
        const mapping = {};
        for (const ch of choices) mapping[ch.c.request] = ch.none ? null : (ch.select.value || null);
        const cfg = {};
        for (const x of config) if (x.input.value !== '') cfg[x.f.key] = x.input.value;
        const info = await act(b, () => install({ mapping, config: cfg, approve: !!approve?.checked, start: true }), `${review.name} installed`);
        history.pushState({}, '', '/apps#' + info.name);
        route();
      },
    },
    choices.length ? section('Which of your data', h('p', {}, 'Choose the datasource for each request. Optional ones can be declined.'), choices.map((x) => x.el)) : null,
    config.length ? section('Settings', config.map((x) => x.el)) : null,
    approve ? h('label', { class: 'check' }, approve, ' I approve what this version newly asks for') : null,
    b));
}

// ----- access

async function accessPage() {
  const [principals, grants, tokens, recent] = await Promise.all([
    api('GET', '/api/v1/principals'),
    api('GET', '/api/v1/grants'),
    api('GET', '/api/v1/tokens'),
    api('GET', '/api/v1/audit?kind=access&limit=5000'),
  ]);
  const used = new Map();
  for (const r of recent) {
    // A read of no store (a driver measuring the box's machine) is named by what it read, as in
    // the statement.
    const measured = r.kind === 'access' && r.operation === 'read' && (r.outcome ?? 'ok') === 'ok' ? r.detail ?? '' : '';
    const key = `${r.principal}|${r.operation}|${[r.store, r.datasource].filter(Boolean).join('/') || measured}|${r.outcome ?? 'ok'}`;
    used.set(key, (used.get(key) ?? 0) + (r.count || 1));
  }
  const cards = principals.map((p) => {
    const mine = grants.filter((g) => g.principal === p.id);
    const did = [...used.entries()].filter(([k]) => k.startsWith(p.id + '|')).map(([k, n]) => { const [, op, where, outcome] = k.split('|'); return [op, where || '—', outcomeBadge(outcome), n.toLocaleString()]; });
    return h('article', { class: 'card', 'aria-label': p.id, id: 'principal-' + p.id },
      h('header', {}, h('h3', {}, p.id, ' ', h('small', {}, p.kind)), h('span', { class: 'muted' }, `since ${fmtTime(p.created)}`)),
      p.description ? h('p', {}, p.description) : null,
      h('h4', {}, 'Allowed'),
      table(['May', 'Data', 'How fine', 'Limits', 'Why', ''], mine.map((g) => [
        g.operation, `${g.store}/${g.datasource ?? '*'}`, g.granularity,
        [g.since || g.until ? `data ${g.since ? 'from ' + fmtTime(g.since) : ''} ${g.until ? 'to ' + fmtTime(g.until) : ''}` : '', g.expires ? `ends ${fmtTime(g.expires)}` : ''].filter(Boolean).join('; ') || '—',
        g.purpose || '—',
        revokeButton(g),
      ]), { empty: 'No grants: it can reach nothing.' }),
      h('h4', {}, 'What it actually did (recent audit records)'),
      table(['Did', 'Data', 'Outcome', 'Times'], did, { empty: 'Nothing recorded.' }));
  });
  page('Access',
    h('p', { class: 'lead' }, 'Who may reach your data, and what each one did with it. Revoking takes effect on the next request.'),
    section('Principals', cards.length ? h('div', { class: 'stack' }, cards) : h('p', { class: 'empty' }, 'No one has access yet.')),
    section('Tokens',
      table(['Id', 'For', 'About', 'Made', 'Expires', ''], tokens.map((t) => [
        h('code', {}, t.id), t.principal, t.description, fmtTime(t.created), t.expires ? fmtTime(t.expires) : 'never',
        t.revoked ? badge('revoked', 'muted') : tokenRevokeButton(t),
      ]))),
    section('A token for a phone or another device', mintForm(principals)));
}

function revokeButton(g) {
  const b = h('button', {
    type: 'button', class: 'danger', 'aria-label': `Revoke ${g.operation} on ${g.store}/${g.datasource ?? '*'} for ${g.principal}`,
    onclick: () => act(b, () => api('DELETE', `/api/v1/grants/${enc(g.id)}`), `Revoked: ${g.principal} may no longer ${g.operation} ${g.store}/${g.datasource ?? '*'}`).then(() => route()),
  }, 'Revoke');
  return b;
}

function tokenRevokeButton(t) {
  const b = h('button', {
    type: 'button', class: 'danger',
    onclick: () => act(b, () => api('DELETE', `/api/v1/tokens/${enc(t.id)}`), `Token ${t.id} revoked`).then(() => route()),
  }, 'Revoke');
  return b;
}

function mintForm(principals) {
  const clients = principals.filter((p) => p.kind === 'client');
  const who = h('select', { id: 'mint-who' }, clients.map((p) => h('option', { value: p.id }, p.id)), h('option', { value: '' }, 'A new client…'));
  const newName = h('input', { id: 'mint-name', placeholder: 'e.g. my-phone', pattern: '[a-z][a-z0-9-]{0,63}' });
  const about = h('input', { id: 'mint-about', placeholder: 'What it is for' });
  const days = h('input', { id: 'mint-days', type: 'number', min: 1, max: 3650, value: 90 });
  const out = h('div', { class: 'minted', 'aria-live': 'polite' });
  const b = h('button', { type: 'submit', class: 'primary' }, 'Make a token');
  const syncName = () => { newName.parentElement.hidden = who.value !== ''; };
  who.addEventListener('change', syncName);
  const form = h('form', {
    class: 'stack',
    onsubmit: async (e) => {
      e.preventDefault();
      const minted = await act(b, async () => {
        let id = who.value;
        if (!id) {
          id = newName.value.trim();
          await api('PUT', `/api/v1/principals/${enc(id)}`, { kind: 'client', description: about.value });
        }
        const token = await api('POST', '/api/v1/tokens', { principal: id, description: about.value, expires: Date.now() + Number(days.value) * 86400e3 });
        const svg = await api('POST', '/api/v1/qr', token.token, { raw: true });
        return { id, token, qr: URL.createObjectURL(await svg.blob()) };
      }, 'Token made: it is shown only now.');
      out.replaceChildren(
        h('p', {}, `A token for ${minted.id}. Give it only to that device; the box keeps no copy. It can do nothing until you grant ${minted.id} access to some data (`, h('code', {}, `databox grant ${minted.id} read STORE/DATASOURCE`), ').'),
        h('img', { src: minted.qr, alt: `QR code of the new token for ${minted.id}`, width: 240, height: 240, class: 'qr' }),
        h('label', { for: 'minted-token' }, 'The token'),
        h('textarea', { id: 'minted-token', readonly: true, rows: 4 }, minted.token.token));
    },
  },
  h('label', { for: 'mint-who' }, 'For'), who,
  h('div', { class: 'choice' }, h('label', { for: 'mint-name' }, 'New client\'s name'), newName),
  h('label', { for: 'mint-about' }, 'About'), about,
  h('label', { for: 'mint-days' }, 'Valid for (days)'), days, b, out);
  queueMicrotask(syncName);
  return form;
}

// ----- audit

async function auditPage() {
  const params = new URLSearchParams(location.search);
  const [verify, principals] = await Promise.all([
    api('GET', '/api/v1/audit/verify').catch((e) => ({ error: e.message })),
    api('GET', '/api/v1/principals'),
  ]);
  const field = (name, label, input) => h('div', {}, h('label', { for: 'f-' + name }, label), input);
  const pick = h('select', { id: 'f-principal', name: 'principal' }, h('option', { value: '' }, 'anyone'),
    ['owner', ...principals.map((p) => p.id)].map((id) => h('option', { value: id, selected: params.get('principal') === id }, id)));
  const outcome = h('select', { id: 'f-outcome', name: 'outcome' }, ['', 'ok', 'refused', 'failed'].map((o) => h('option', { value: o, selected: params.get('outcome') === o }, o || 'any')));
  const op = h('input', { id: 'f-operation', name: 'operation', value: params.get('operation') ?? '', placeholder: 'e.g. read' });
  const store = h('input', { id: 'f-store', name: 'store', value: params.get('store') ?? '' });
  const limit = h('input', { id: 'f-limit', name: 'limit', type: 'number', min: 1, max: 10000, value: params.get('limit') ?? 200 });
  const q = new URLSearchParams();
  for (const k of ['principal', 'outcome', 'operation', 'store', 'kind']) if (params.get(k)) q.set(k, params.get(k));
  q.set('limit', params.get('limit') ?? '200');
  const records = await api('GET', '/api/v1/audit?' + q);
  page('Audit log',
    verifyBadge(verify),
    h('p', { class: 'lead' }, 'Every access to your data and every change to who may reach it, in a chain that cannot be edited unnoticed.'),
    h('form', {
      class: 'filters', role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        const p = new URLSearchParams();
        for (const [k, v] of new FormData(e.target)) if (v) p.set(k, v);
        history.pushState({}, '', '/audit?' + p); route();
      },
    }, field('principal', 'Who', pick), field('operation', 'Did', op), field('store', 'Store', store), field('outcome', 'Outcome', outcome), field('limit', 'At most', limit),
    h('button', { type: 'submit' }, 'Show')),
    table(['#', 'When', 'Who', 'Did', 'Data', 'Detail', 'Outcome'], records.slice().reverse().map((r) => [
      String(r.seq), fmtTime(r.time), r.principal, r.operation ?? r.kind, [r.store, r.datasource].filter(Boolean).join('/') || '—',
      [r.detail, r.count ? `${r.count} row(s)` : ''].filter(Boolean).join(' · '), outcomeBadge(r.outcome),
    ]), { caption: `${records.length} record(s), newest first`, empty: 'No records match.' }));
}

// ----- statement

async function statementPage() {
  const params = new URLSearchParams(location.search);
  const now = new Date();
  const month = params.get('month') ?? `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
  const text = await api('GET', `/api/v1/statement?month=${enc(month)}`);
  const input = h('input', { type: 'month', id: 'month', value: month });
  page('Monthly statement',
    h('form', {
      class: 'inline-form no-print',
      onsubmit: (e) => { e.preventDefault(); history.pushState({}, '', '/statement?month=' + enc(input.value)); route(); },
    }, h('label', { for: 'month' }, 'Month'), input, h('button', { type: 'submit' }, 'Show'),
    h('button', { type: 'button', onclick: () => window.print() }, 'Print')),
    h('article', { class: 'statement' }, renderStatement(text)));
}

/** The statement is plain text: headings are lines without indentation followed by indented
 *  lines; everything is shown as text. */
function renderStatement(text) {
  const out = [];
  let list = null;
  const lines = text.split('\n');
  const itemOf = (line) => line.match(/^\s*[-*•]\s+(.*)$/) ?? (line.startsWith('  ') ? [null, line.trim()] : null);
  lines.forEach((line, i) => {
    if (!line.trim()) { list = null; return; }
    const item = itemOf(line);
    if (item) {
      if (!list) { list = h('ul'); out.push(list); }
      list.append(h('li', {}, item[1]));
    } else {
      list = null;
      const heads = lines[i + 1] !== undefined && itemOf(lines[i + 1]);
      out.push(out.length === 0 ? h('h2', {}, line) : heads ? h('h3', {}, line) : h('p', {}, line));
    }
  });
  return out;
}

// ----- exports

async function exportsPage() {
  const [waiting, all, receipts, settings, principals] = await Promise.all([
    api('GET', '/api/v1/exports?state=review'),
    api('GET', '/api/v1/exports'),
    api('GET', '/api/v1/exports/receipts'),
    api('GET', '/api/v1/exports/settings'),
    api('GET', '/api/v1/principals'),
  ]);
  const items = await Promise.all(waiting.map(async (x) => {
    const full = await api('GET', `/api/v1/exports/${enc(x.id)}`).catch(() => null);
    const body = full?.body;
    const shown = body?.text != null ? h('pre', { class: 'payload' }, body.text.length > 20000 ? body.text.slice(0, 20000) + '\n…' : body.text)
      : h('p', {}, `Binary content (${fmtBytes(x.size)}).`);
    const decide = (d) => {
      const b = h('button', {
        type: 'button', class: d === 'approve' ? 'primary' : 'danger',
        onclick: () => act(b, () => api('POST', `/api/v1/exports/${enc(x.id)}/${d}`), d === 'approve' ? `Approved: it will be sent to ${x.destination}` : 'Rejected: it will not be sent').then(() => route()),
      }, d === 'approve' ? 'Approve and send' : 'Reject');
      return b;
    };
    return h('article', { class: 'card', 'aria-label': `Export ${x.id}` },
      h('header', {}, h('h3', {}, `${x.app} wants to send ${fmtBytes(x.size)}`), h('span', { class: 'muted' }, fmtTime(x.created_ms))),
      h('p', {}, 'To: ', h('strong', {}, x.destination), ` (${x.content_type})`),
      h('details', { open: true }, h('summary', {}, 'What would be sent'), shown),
      h('div', { class: 'toolbar' }, decide('approve'), decide('reject')));
  }));
  const reviewed = new Set(settings.review ?? []);
  const senders = principals.filter((p) => p.kind !== 'driver');
  page('Exports',
    h('p', { class: 'lead' }, 'The only way data leaves your box: to destinations you approved, every send recorded.'),
    section('Waiting for your decision', items.length ? h('div', { class: 'stack' }, items) : h('p', { class: 'empty' }, 'Nothing is waiting.')),
    section('Review before sending',
      h('p', {}, 'Hold everything an app or client sends until you have looked at it.'),
      table(['Who', 'Hold for review'], senders.map((p) => {
        const box = h('input', {
          type: 'checkbox', id: `review-${p.id}`, checked: reviewed.has(p.id),
          onchange: () => act(null, () => api('PUT', `/api/v1/exports/review/${enc(p.id)}`, { on: box.checked }), box.checked ? `${p.id}: exports now wait for you` : `${p.id}: exports go without review`),
        });
        return [h('label', { for: `review-${p.id}` }, p.id), box];
      }), { empty: 'No apps or clients yet.' })),
    section('Receipts',
      table(['When', 'Who', 'To', 'Size', 'Answer', 'SHA-256'], receipts.map((r) => [
        fmtTime(r.delivered_ms ?? r.at_ms), r.app, r.destination, fmtBytes(r.size), String(r.status ?? ''), h('code', {}, (r.sha256 ?? '').slice(0, 16) + '…'),
      ]), { empty: 'Nothing has left the box.' })),
    section('History',
      table(['When', 'Who', 'To', 'Size', 'State', 'Tries'], all.map((x) => [
        fmtTime(x.created_ms), x.app, x.destination, fmtBytes(x.size), badge(x.state, { delivered: 'ok', review: 'info', queued: 'info', failed: 'bad', rejected: 'muted', cancelled: 'muted' }[x.state] ?? 'muted'), String(x.attempts),
      ]))));
}

// ----- imports

async function importsPage() {
  const jobs = await api('GET', '/api/v1/imports');
  const format = h('select', { id: 'imp-format', name: 'format' },
    h('option', { value: 'apple-health' }, 'Apple Health (export.zip or export.xml)'),
    h('option', { value: 'google' }, 'Google location history (Records.json, Semantic Location History, Timeline.json)'));
  const path = h('input', { id: 'imp-path', name: 'path', required: true, placeholder: '/home/me/Downloads/export.zip', class: 'wide' });
  const store = h('input', { id: 'imp-store', name: 'store', placeholder: 'the format\'s own store' });
  const b = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const list = h('div', { class: 'stack' });
  const render = (all) => list.replaceChildren(...(all.length ? all.map(jobCard) : [h('p', { class: 'empty' }, 'No imports yet.')]));
  render(jobs);
  page('Imports',
    h('p', { class: 'lead' }, 'Bring in the data other services let you download. Files are read on the box itself; an interrupted import resumes where it stopped, without duplicates.'),
    section('Import a file',
      h('form', {
        class: 'stack',
        onsubmit: async (e) => {
          e.preventDefault();
          await act(b, () => api('POST', '/api/v1/imports', { format: format.value, path: path.value, store: store.value || null }), 'Import started');
          route();
        },
      },
      h('label', { for: 'imp-format' }, 'What it is'), format,
      h('label', { for: 'imp-path' }, 'Its path on the box\'s machine'), path,
      h('label', { for: 'imp-store' }, 'Into the store (optional)'), store, b)),
    section('Imports', list));
  // Progress follows the box while something runs.
  clearTimeout(stateWatch);
  const tick = async () => {
    if (location.pathname !== '/imports') return;
    const all = await api('GET', '/api/v1/imports').catch(() => null);
    if (all) render(all);
    if (all?.some((j) => j.state === 'running')) stateWatch = setTimeout(tick, 1000);
  };
  if (jobs.some((j) => j.state === 'running')) stateWatch = setTimeout(tick, 1000);
}

function jobCard(j) {
  const written = Object.values(j.written ?? {}).reduce((a, b) => a + b, 0);
  const pct = j.bytes_total ? Math.min(100, Math.round((100 * j.bytes_read) / j.bytes_total)) : 0;
  const control = (action, label, cls) => {
    const b = h('button', { type: 'button', class: cls, onclick: () => act(b, () => api('POST', `/api/v1/imports/${enc(j.id)}/${action}`), `${label}: ${j.id}`).then(() => route()) }, label);
    return b;
  };
  const skipped = Object.entries(j.skipped ?? {});
  return h('article', { class: 'card', 'aria-label': `Import ${j.id}` },
    h('header', {}, h('h3', {}, j.format === 'apple-health' ? 'Apple Health' : 'Google location history', ' ', h('small', {}, j.path)),
      badge(j.state, { running: 'info', done: 'ok', stopped: 'warn', failed: 'bad' }[j.state] ?? 'muted')),
    j.state === 'running'
      ? h('p', {}, h('progress', { max: 100, value: pct, 'aria-label': `Import progress ${pct}%` }), ` ${pct}% — ${j.items.toLocaleString()} items read`)
      : h('p', {}, `${written.toLocaleString()} items written into `, link(`/data`, j.store), `; started ${fmtTime(j.started_ms)}${j.finished_ms ? ', ended ' + fmtTime(j.finished_ms) : ''}.`),
    j.error ? h('p', { class: 'error' }, j.error) : null,
    Object.keys(j.written ?? {}).length ? h('details', {}, h('summary', {}, 'Written, by datasource'),
      table(['Datasource', 'Items'], Object.entries(j.written).map(([ds, n]) => [link(`/data/${enc(j.store)}/${enc(ds)}`, ds), n.toLocaleString()]))) : null,
    skipped.length ? h('details', {}, h('summary', {}, `Skipped: ${skipped.reduce((a, [, n]) => a + n, 0).toLocaleString()}`),
      table(['Why', 'How many'], skipped.map(([why, n]) => [why, n.toLocaleString()]))) : null,
    h('div', { class: 'toolbar' },
      j.state === 'running' ? control('stop', 'Stop') : null,
      ['stopped', 'failed'].includes(j.state) ? control('resume', 'Resume', 'primary') : null));
}

// ----- settings

async function settingsPage() {
  const status = await api('GET', '/api/v1/box');
  const current = h('input', { type: 'password', id: 'pw-current', autocomplete: 'current-password' });
  const fresh = h('input', { type: 'password', id: 'pw-new', autocomplete: 'new-password', minlength: 10, required: true });
  const again = h('input', { type: 'password', id: 'pw-again', autocomplete: 'new-password', minlength: 10, required: true });
  const b = h('button', { type: 'submit', class: 'primary' }, 'Save the password');
  const linkOut = h('p', { 'aria-live': 'polite' });
  const lb = h('button', {
    type: 'button',
    onclick: async () => {
      const l = await act(lb, () => api('POST', '/api/v1/owner/login-link'));
      const url = location.origin + l.path;
      linkOut.replaceChildren('Valid once, for 15 minutes: ', h('code', {}, url));
    },
  }, 'Make a one-time login link');
  page('Settings',
    section(status.password_set ? 'Change your password' : 'Set a password',
      h('form', {
        class: 'stack',
        onsubmit: async (e) => {
          e.preventDefault();
          if (fresh.value !== again.value) { toast('The two new passwords differ.', 'error'); return; }
          await act(b, () => api('PUT', '/api/v1/owner/password', { current: current.value, new: fresh.value }), 'Password saved. Other sessions were logged out.');
          e.target.reset();
        },
      },
      status.password_set ? [h('label', { for: 'pw-current' }, 'Current password'), current] : null,
      h('label', { for: 'pw-new' }, 'New password (at least 10 characters)'), fresh,
      h('label', { for: 'pw-again' }, 'Repeat it'), again, b)),
    section('Log in on another device', h('p', {}, 'A link that logs in once without the password.'), lb, linkOut),
    section('About this box', h('p', {}, `Databox ${status.version}. Disk: ${fmtBytes(status.disk_used_bytes)} of ${fmtBytes(status.disk_total_bytes)} used.`)));
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/$/, homePage],
  [/^\/data$/, dataPage],
  [/^\/data\/([^/]+)\/([^/]+)$/, (m) => datasourcePage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^\/apps$/, appsPage],
  [/^\/apps\/install\/([^/]+)$/, (m) => installPage(decodeURIComponent(m[1]))],
  [/^\/access$/, accessPage],
  [/^\/audit$/, auditPage],
  [/^\/statement$/, statementPage],
  [/^\/exports$/, exportsPage],
  [/^\/imports$/, importsPage],
  [/^\/settings$/, settingsPage],
];

async function route() {
  const path = location.pathname;
  for (const a of document.querySelectorAll('nav a')) {
    const href = a.getAttribute('href');
    const here = href === '/' ? path === '/' : path.startsWith(href);
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.querySelector('.menu')?.setAttribute('aria-expanded', 'false');
  document.getElementById('nav')?.classList.remove('open');
  main.setAttribute('aria-busy', 'true');
  try {
    for (const [re, fn] of ROUTES) {
      const m = path.match(re);
      if (m) { await fn(m); break; }
    }
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  } catch (e) {
    page('Something went wrong', h('p', { class: 'error', role: 'alert' }, e.message), h('p', {}, link(path, 'Try again')));
  } finally {
    main.removeAttribute('aria-busy');
  }
}

// Links inside the dashboard change the page without reloading; everything else (app pages,
// downloads) is a normal navigation.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.hasAttribute('download') || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/app/') || url.pathname.startsWith('/api/')) return;
  if (!ROUTES.some(([re]) => re.test(url.pathname))) return;
  e.preventDefault();
  history.pushState({}, '', url.pathname + url.search + url.hash);
  route().then(() => main.focus());
});
window.addEventListener('popstate', route);
document.querySelector('.menu')?.addEventListener('click', (e) => {
  const nav = document.getElementById('nav');
  const open = nav.classList.toggle('open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
});

route();
