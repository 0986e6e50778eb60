#!/usr/bin/env node
// Browser checks for the observatory's pages, run by a Rust test against a live node:
//
//   node axe.mjs BASE_URL PATH...        e.g. node axe.mjs http://127.0.0.1:8080 / /catalogue?q=bins
//
// For each PATH, in headless Chromium (Debian's `chromium`, or the binary named by $CHROMIUM),
// with the Content-Security-Policy the server sends in force:
//   1. on a desktop (1280x800) and a phone (375x667), JavaScript on: axe-core with the WCAG
//      2.0/2.1/2.2 A and AA rules; a violation of impact serious or critical fails the page
//      (minor and moderate ones are printed only). Any console error (a CSP refusal, a failed
//      load but /favicon.ico's, an uncaught script error) fails it.
//   2. on the phone: the page does not scroll sideways (content may scroll only inside
//      .lg-table-wrapper and .lg-chart__scroll);
//   3. with JavaScript off: each <table data-expect-rows> has at least one body row (a row
//      marked <tr data-empty>, such as a "None." placeholder, does not count); the markup
//      needs nothing the CSP refuses (no style= or on*= attributes, no <style>, no inline
//      <script>); it has a meta viewport; every [data-live] element has an id; and a page with
//      [data-live-src] has #lg-live-status outside every [data-live].
// With $LIVE_CHECK_PATH set, that path is opened too: once its EventSource is open
// (live.js sets data-live-state="open" on the [data-live-src] element) this prints
// READY-FOR-LIVE on a line of its own; the caller then publishes something, and
// #lg-live-status must become non-empty within 20 s ($LIVE_TIMEOUT_MS).
// A PATH may end in @STATUS (e.g. /nope@404) for a page that must answer with that status:
// its own failed load is then expected, and the page is checked like any other.
// One line per page, then "web: N passed, N failed". Exit 0 only if every check passed
// (1 if one failed, 2 for bad usage or no browser).
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
// Evaluated through the DevTools protocol rather than added as a <script>: the page's CSP
// would refuse an inline script, and it need not be weakened for the test.
const AXE = readFileSync(path.join(path.dirname(require.resolve('axe-core')), 'axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const FAILING = new Set(['serious', 'critical']);
const SCROLLERS = '.lg-table-wrapper, .lg-chart__scroll';

const [base, ...paths] = process.argv.slice(2);
const livePath = process.env.LIVE_CHECK_PATH;
if (!base || (paths.length === 0 && !livePath)) {
  console.error('usage: node axe.mjs BASE_URL PATH... (and/or LIVE_CHECK_PATH=/path)');
  process.exit(2);
}
const exe = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/lib/chromium/chromium'].find(existsSync);
if (!exe) {
  console.error('no Chromium: apt-get install chromium, or set CHROMIUM to its path');
  process.exit(2);
}

// Playwright passes --no-sandbox itself (chromiumSandbox defaults to false), which running as
// root needs. A small /dev/shm (containers) crashes Chromium without --disable-dev-shm-usage.
const browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--disable-dev-shm-usage'] });
const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const phone = await browser.newContext({ viewport: { width: 375, height: 667 }, deviceScaleFactor: 2, hasTouch: true });
const nojs = await browser.newContext({ viewport: { width: 1280, height: 800 }, javaScriptEnabled: false });

let passed = 0;
let failed = 0;

function report(name, problems, notes) {
  const ok = problems.length === 0;
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${notes.join('; ')}`);
  for (const p of [...new Set(problems)]) console.log(`    ${p}`);
}

// The status each URL must answer with (200 unless the path said @STATUS).
const expected = new Map();

async function open(context, url, problems, label) {
  const want = expected.get(url) || 200;
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${label}: script error: ${e.message}`));
  // Console errors: CSP refusals, failed loads (an asset, the event stream), script errors.
  // A missing /favicon.ico is let off (the shell can declare <link rel="icon" href="data:,">).
  page.on('console', (m) => {
    const where = m.location().url || '';
    if (m.type() !== 'error' || /\/favicon\.ico$/.test(where)) return;
    if (want >= 400 && where === url && /Failed to load/.test(m.text())) return;
    const text = m.text().split(/(?<=\.) /)[0].slice(0, 160);
    problems.push(`${label}: console: ${text}${/Failed to load/.test(text) ? ` (${where})` : ''}`);
  });
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  if (!resp || resp.status() !== want) {
    problems.push(`${label}: HTTP ${resp ? resp.status() : 'no response'}, expected ${want}`);
  }
  return page;
}

async function runAxe(page, label, problems, notes) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async (tags) => {
    /* global axe */
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  }, TAGS);
  const bad = violations.filter((v) => FAILING.has(v.impact));
  const minor = violations.filter((v) => !FAILING.has(v.impact));
  notes.push(`axe ${label} ${bad.length} serious/critical, ${minor.length} minor/moderate`);
  for (const v of bad) problems.push(`axe ${v.id} (${v.impact}): ${v.help} at ${v.targets.slice(0, 5).join(' | ')}`);
  for (const v of minor) console.log(`    note: axe ${label} ${v.id} (${v.impact}): ${v.help} at ${v.targets.slice(0, 3).join(' | ')}`);
}

async function checkDesk(url, problems, notes) {
  const page = await open(desk, url, problems, 'desktop');
  try {
    await runAxe(page, 'desktop', problems, notes);
  } finally {
    await page.close();
  }
}

async function checkPhone(url, problems, notes) {
  const page = await open(phone, url, problems, 'phone');
  try {
    const r = await page.evaluate((scrollers) => {
      const w = window.innerWidth;
      const culprits = [];
      for (const e of document.body.querySelectorAll('*')) {
        if (e.closest(scrollers) || culprits.length >= 5) continue;
        const b = e.getBoundingClientRect();
        const spill = e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible';
        if ((b.right > w + 1 && b.width > 0) || spill) {
          culprits.push(e.tagName.toLowerCase() + (e.id ? `#${e.id}` : '')
            + (e.classList.length ? `.${[...e.classList].join('.')}` : '')
            + (spill ? ` (content ${e.scrollWidth}px in ${e.clientWidth}px)` : ` (right edge ${Math.round(b.right)}px)`));
        }
      }
      return { sw: document.documentElement.scrollWidth, w, culprits };
    }, SCROLLERS);
    if (r.sw <= r.w + 1) {
      notes.push(`phone ${r.w}px no sideways scroll`);
    } else {
      notes.push(`phone ${r.w}px scrolls sideways (${r.sw}px)`);
      problems.push(`phone: page is ${r.sw}px wide at ${r.w}px; widest: ${r.culprits.join(', ') || '?'}`);
    }
    await runAxe(page, 'phone', problems, notes);
  } finally {
    await page.close();
  }
}

async function checkNoJs(url, problems, notes) {
  const page = await open(nojs, url, problems, 'no-JS');
  try {
    const r = await page.evaluate(() => {
      const tables = [...document.querySelectorAll('table[data-expect-rows]')].map((t) => {
        const body = t.tBodies.length ? [...t.tBodies].flatMap((b) => [...b.rows])
          : [...t.rows].filter((row) => row.parentElement !== t.tHead && row.parentElement !== t.tFoot);
        const c = t.caption || t.querySelector('th');
        return {
          name: (t.id ? ` #${t.id}` : '') + (c ? ` "${c.textContent.trim().slice(0, 40)}"` : ''),
          rows: body.filter((row) => !row.hasAttribute('data-empty')).length,
        };
      });
      const handlers = [];
      for (const e of document.querySelectorAll('*')) {
        for (const a of e.attributes) if (/^on/i.test(a.name)) handlers.push(`${e.tagName.toLowerCase()}[${a.name}]`);
      }
      const status = document.getElementById('lg-live-status');
      const vp = document.querySelector('meta[name="viewport"]');
      return {
        tables,
        handlers,
        inlineStyle: [...new Set([...document.querySelectorAll('[style]')].map((e) => e.tagName.toLowerCase()))],
        inlineScripts: [...document.querySelectorAll('script:not([src])')].filter((s) => !/json/i.test(s.type)).length,
        styleElements: document.querySelectorAll('style').length,
        viewport: vp ? vp.content : '',
        liveNoId: document.querySelectorAll('[data-live]:not([id])').length,
        statusMissing: !!document.querySelector('[data-live-src]') && (!status || !!status.closest('[data-live]')),
      };
    });
    const empty = r.tables.filter((t) => t.rows < 1);
    notes.push(`no-JS tables ${r.tables.length - empty.length}/${r.tables.length} with rows`);
    for (const t of empty) problems.push(`no-JS: table${t.name} has data-expect-rows but no rows`);
    if (r.inlineStyle.length) problems.push(`CSP: style= attributes on ${r.inlineStyle.join(', ')}`);
    if (r.handlers.length) problems.push(`CSP: inline event handlers ${r.handlers.slice(0, 5).join(', ')}`);
    if (r.inlineScripts) problems.push(`CSP: ${r.inlineScripts} inline <script> element(s)`);
    if (r.styleElements) problems.push(`CSP: ${r.styleElements} <style> element(s)`);
    if (!/width=device-width/.test(r.viewport)) problems.push('no <meta name="viewport" content="width=device-width, initial-scale=1">');
    if (r.liveNoId) problems.push(`${r.liveNoId} [data-live] element(s) without an id`);
    if (r.statusMissing) problems.push('a [data-live-src] page needs #lg-live-status, outside every [data-live]');
  } finally {
    await page.close();
  }
}

for (const arg of paths) {
  const m = /^(.*)@(\d{3})$/.exec(arg);
  const p = m ? m[1] : arg;
  const url = new URL(p, base).href;
  expected.set(url, m ? Number(m[2]) : 200);
  const problems = [];
  const notes = [];
  for (const check of [checkDesk, checkPhone, checkNoJs]) {
    try {
      await check(url, problems, notes);
    } catch (e) {
      problems.push(`${check.name}: ${e.message.split('\n')[0]}`);
    }
  }
  report(arg, problems, notes);
}

if (livePath) {
  const problems = [];
  const notes = [];
  try {
    const page = await open(desk, new URL(livePath, base).href, problems, 'live');
    if (!(await page.$('[data-live-src]'))) throw new Error('no [data-live-src] element');
    if (!(await page.$('#lg-live-status'))) throw new Error('no #lg-live-status element');
    await page.waitForSelector('[data-live-state="open"]', { state: 'attached', timeout: 10000 })
      .catch(() => { throw new Error('the EventSource did not open within 10 s'); });
    console.log('READY-FOR-LIVE');
    const timeout = Number(process.env.LIVE_TIMEOUT_MS || 20000);
    await page.waitForFunction(() => document.getElementById('lg-live-status').textContent.trim() !== '', null, { timeout })
      .catch(() => { throw new Error(`#lg-live-status stayed empty for ${timeout / 1000} s after READY-FOR-LIVE`); });
    notes.push(`status "${(await page.textContent('#lg-live-status')).trim()}"`);
  } catch (e) {
    problems.push(`live: ${e.message.split('\n')[0]}`);
  }
  report(`live ${livePath}`, problems, notes.length ? notes : ['no update seen']);
}

await browser.close();
console.log(`web: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
