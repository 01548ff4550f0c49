/**
 * The node status page served at `/`: one HTML document with its CSS and script inline,
 * plus the chart library (vega + vega-lite, the same library the simulator's reports
 * use) served from this package under /assets, so the page works with no network.
 * The script polls GET /v1/status every few seconds; when the API has a token it asks
 * for it once and keeps it in the tab's sessionStorage.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** Seconds between two status polls of the page. */
export const STATUS_REFRESH_SECONDS = 2

/** Files under /assets/: the browser builds shipped inside the vega and vega-lite packages. */
export const STATUS_ASSETS = ['vega.min.js', 'vega-lite.min.js'] as const

const require = createRequire(import.meta.url)
const ASSET_PATHS: Record<string, () => string> = {
  // the packages' exports hide build/, so find it beside their entry points
  'vega.min.js': () => join(dirname(require.resolve('vega')), 'vega.min.js'),
  'vega-lite.min.js': () => join(dirname(require.resolve('vega-lite')), 'vega-lite.min.js'),
}
const assetCache = new Map<string, string>()

/** The text of one asset (read once). */
export function statusAsset(file: string): string {
  const find = ASSET_PATHS[file]
  if (find === undefined) throw new Error(`unknown status page asset ${file}`)
  let text = assetCache.get(file)
  if (text === undefined) {
    text = readFileSync(find(), 'utf8')
    assetCache.set(file, text)
  }
  return text
}

const CSS = `
:root{--ok:#009E73;--bad:#D55E00;--warn:#E69F00;--ink:#222;--muted:#666;--line:#ddd}
*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:var(--ink);background:#f6f7f9}
header{background:#fff;border-bottom:1px solid var(--line);padding:12px 24px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:20px;margin:0}.peerid{font-family:monospace;font-size:13px;color:var(--muted);word-break:break-all}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-size:13px;font-weight:600;color:#fff;background:var(--muted)}
.badge.training{background:#0072B2}.badge.trained{background:var(--ok)}.badge.failed{background:var(--bad)}.badge.waiting-for-peers,.badge.starting{background:var(--warn)}
main{padding:16px 24px;display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:16px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:12px 16px}
section h2{font-size:15px;margin:0 0 8px}section.wide{grid-column:1/-1}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dt{color:var(--muted)}dd{margin:0;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border-bottom:1px solid var(--line);padding:3px 6px;text-align:left}
.up{color:var(--ok);font-weight:600}.down{color:var(--bad);font-weight:600}
.bar{height:12px;background:#eee;border-radius:6px;overflow:hidden;margin:6px 0}.bar>div{height:100%;background:#0072B2}.bar.over>div{background:var(--bad)}
#banner{display:none;padding:8px 24px;background:#fdecea;color:#8a1c0d}#banner.show{display:block}
#login{display:none}#login.show{display:block}footer{padding:0 24px 16px;color:var(--muted);font-size:13px}
.chart{min-height:60px}
`

const SCRIPT = `
'use strict';
const REFRESH_MS = ${STATUS_REFRESH_SECONDS * 1000};
const $ = (id) => document.getElementById(id);
const text = (id, v) => { $(id).textContent = v; };
const fmtBytes = (b) => { if (typeof b !== 'number') return '-'; const u = ['B','kB','MB','GB','TB']; let i = 0; while (Math.abs(b) >= 1000 && i < u.length - 1) { b /= 1000; i++; } return (i === 0 ? String(Math.round(b)) : b.toFixed(2)) + ' ' + u[i]; };
const fmtNum = (x, d) => (typeof x === 'number' && isFinite(x) ? x.toFixed(d) : '-');
const fmtTime = (t) => (t ? new Date(t).toLocaleTimeString() : '-');
let token = sessionStorage.getItem('collab-token');
const charts = {};

function showBanner(msg) { const b = $('banner'); b.textContent = msg; b.className = msg ? 'show' : ''; }

async function render(id, spec) {
  // one vega View per chart, fed new data on every poll
  const data = spec.data.values;
  if (!charts[id]) {
    const vg = vegaLite.compile(Object.assign({}, spec, { data: { name: 'rows' } })).spec;
    charts[id] = new vega.View(vega.parse(vg), { renderer: 'svg', container: '#' + id, hover: false });
  }
  await charts[id].data('rows', data).runAsync();
}

function lineSpec(values, x, y, xTitle, yTitle, opts) {
  return {
    width: 'container', height: 180, autosize: { type: 'fit-x', contains: 'padding' },
    data: { values },
    mark: { type: 'line', point: values.length <= 60, strokeWidth: 1.8 },
    encoding: {
      x: Object.assign({ field: x, type: opts && opts.time ? 'temporal' : 'quantitative', title: xTitle, scale: { zero: false, nice: true } }, opts && opts.time ? { axis: { format: '%H:%M:%S' } } : { axis: { format: 'd' } }),
      y: { field: y, type: 'quantitative', title: yTitle, scale: { zero: false, nice: true }, axis: opts && opts.yFormat ? { format: opts.yFormat } : {} },
    },
    config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, axisY: { titleAngle: 0, titleAlign: 'left', titleAnchor: 'end', titleBaseline: 'bottom', titleX: 0, titleY: -8 } },
  };
}

function update(s) {
  text('name', s.node.name);
  text('peerid', s.node.peerId);
  const st = $('state'); st.textContent = s.state; st.className = 'badge ' + s.state;
  text('iteration', String(s.iteration));
  text('converged', s.converged === null ? '-' : s.converged ? 'yes' : 'no');
  text('threshold', fmtNum(s.threshold, 4));
  text('started', s.startedAt ? new Date(s.startedAt).toLocaleString() : '-');
  const h = s.history || [];
  const last = h.length ? h[h.length - 1] : null;
  text('objective', last ? fmtNum(last.objective, 5) : '-');
  text('sessions', String(s.consensus.sessions));
  text('rounds', String(s.consensus.rounds));
  text('reruns', String(s.consensus.reruns));
  text('sent', fmtBytes(s.transport.bytesSent) + ' in ' + s.transport.framesSent + ' frames');
  text('received', fmtBytes(s.transport.bytesReceived) + ' in ' + s.transport.framesReceived + ' frames');
  const rejects = Object.entries(s.transport.rejects || {}).map(([k, v]) => k + ' ' + v).join(', ');
  text('rejects', rejects || 'none');
  const p = s.privacy;
  text('spent', fmtNum(p.epsilonSpent, 3) + (p.budget === null || p.budget === undefined ? ' (no budget)' : ' of ' + fmtNum(p.budget, 3)));
  text('delta', p.delta === undefined ? '-' : String(p.delta));
  const frac = p.budget ? Math.min(1, p.epsilonSpent / p.budget) : 0;
  $('budgetbar').style.width = (100 * frac).toFixed(1) + '%';
  $('budget').className = 'bar' + (p.budget && p.epsilonSpent > p.budget ? ' over' : '');
  const r = p.lastRelease;
  text('release', r ? fmtTime(r.time) + ': ' + r.label + ', running epsilon ' + fmtNum(r.epsilon, 3) : 'none yet');
  const rows = s.peers.filter((q) => q.neighbour).concat(s.peers.filter((q) => !q.neighbour));
  $('peers').innerHTML = '';
  for (const q of rows) {
    const tr = document.createElement('tr');
    const cells = [q.name, q.neighbour ? 'neighbour' : 'member', null, q.connectedSince ? fmtTime(q.connectedSince) : '-', q.peerId];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      if (i === 2) { td.textContent = q.connected ? 'connected' : 'not connected'; td.className = q.connected ? 'up' : 'down'; }
      else td.textContent = c;
      if (i === 4) td.className = 'peerid';
      tr.appendChild(td);
    });
    $('peers').appendChild(tr);
  }
  const up = s.peers.filter((q) => q.neighbour && q.connected).length;
  text('liveness', up + ' of ' + s.peers.filter((q) => q.neighbour).length + ' neighbours connected');
  const obj = h.filter((x) => typeof x.objective === 'number' && isFinite(x.objective));
  render('objchart', lineSpec(obj, 'iteration', 'objective', 'iteration', 'objective (nats per row)'));
  render('iterchart', lineSpec(h.map((x) => ({ time: x.time, iteration: x.iteration })), 'time', 'iteration', 'time', 'iteration', { time: true }));
  render('byteschart', lineSpec(h.map((x) => ({ iteration: x.iteration, bytes: x.bytesSent })), 'iteration', 'bytes', 'iteration', 'consensus bytes sent (B, cumulative)', { yFormat: '~s' }));
  text('updated', new Date().toLocaleTimeString());
}

async function poll() {
  try {
    const res = await fetch('/v1/status', { headers: token ? { authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
    if (res.status === 401) {
      $('login').className = 'show';
      showBanner('This node\\'s API needs its bearer token (api.token in org.yaml).');
      return;
    }
    if (!res.ok) { showBanner('GET /v1/status answered ' + res.status); return; }
    showBanner('');
    $('login').className = '';
    update(await res.json());
  } catch (err) {
    showBanner('The node does not answer (' + err.message + '); retrying every ' + REFRESH_MS / 1000 + ' s.');
  } finally {
    setTimeout(poll, REFRESH_MS);
  }
}

$('loginform').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('collab-token', token);
});
poll();
`

const BODY = `
<div id="banner" role="alert"></div>
<header><h1>collabdict node <span id="name">…</span></h1><span id="state" class="badge">…</span><span class="peerid" id="peerid"></span></header>
<div id="login"><main><section><h2>Token</h2><form id="loginform"><label>Bearer token <input id="token" type="password" autocomplete="off"></label> <button>Use</button></form></section></main></div>
<main>
<section><h2>Training</h2><dl>
<dt>iteration</dt><dd id="iteration">-</dd><dt>objective</dt><dd id="objective">-</dd><dt>converged</dt><dd id="converged">-</dd>
<dt>anomaly threshold</dt><dd id="threshold">-</dd><dt>started</dt><dd id="started">-</dd></dl></section>
<section><h2>Consensus</h2><dl>
<dt>sessions</dt><dd id="sessions">-</dd><dt>rounds</dt><dd id="rounds">-</dd><dt>sessions rerun</dt><dd id="reruns">-</dd>
<dt>sent</dt><dd id="sent">-</dd><dt>received</dt><dd id="received">-</dd><dt>frames rejected</dt><dd id="rejects">-</dd></dl></section>
<section><h2>Privacy</h2><dl><dt>epsilon spent</dt><dd id="spent">-</dd><dt>delta</dt><dd id="delta">-</dd><dt>last release</dt><dd id="release">-</dd></dl>
<div class="bar" id="budget" title="epsilon spent of the budget"><div id="budgetbar" style="width:0"></div></div></section>
<section class="wide"><h2>Objective per iteration</h2><div id="objchart" class="chart"></div></section>
<section><h2>Iteration over time</h2><div id="iterchart" class="chart"></div></section>
<section><h2>Consensus traffic</h2><div id="byteschart" class="chart"></div></section>
<section class="wide"><h2>Peers <small id="liveness"></small></h2>
<table><thead><tr><th>name</th><th>role</th><th>liveness</th><th>connected since</th><th>PeerId</th></tr></thead><tbody id="peers"></tbody></table></section>
</main>
<footer>Refreshes every ${STATUS_REFRESH_SECONDS} s; last update <span id="updated">-</span>. API: <a href="/docs">/docs</a>, <a href="/openapi.json">/openapi.json</a>, <a href="/metrics">/metrics</a>.</footer>
`

/** The status page (constant: the data come from /v1/status). */
export function statusPageHtml(): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>collabdict node status</title>',
    // no favicon request (its 404 would be a console error)
    '<link rel="icon" href="data:,">',
    `<style>${CSS}</style>`,
    '<script src="/assets/vega.min.js"></script>',
    '<script src="/assets/vega-lite.min.js"></script>',
    '</head><body>',
    BODY,
    `<script>${SCRIPT}</script>`,
    '</body></html>',
  ].join('\n')
}
