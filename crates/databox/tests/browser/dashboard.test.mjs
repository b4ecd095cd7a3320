// The owner's dashboard in a real browser (Debian's chromium, driven by playwright-core), against
// a real box started by crates/databox/tests/dashboard.rs, which passes:
//   BOX_URL, OWNER_TOKEN, LOGIN_LINK, SCREENSHOTS, CHROMIUM
// The owner's token is used only for what a phone or a script would do outside the dashboard
// (an external client sending an export); every owner action goes through the pages.

import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const { BOX_URL, OWNER_TOKEN, LOGIN_LINK, SCREENSHOTS, CHROMIUM } = process.env;
for (const [k, v] of Object.entries({ BOX_URL, OWNER_TOKEN, LOGIN_LINK, SCREENSHOTS, CHROMIUM })) {
  if (!v) throw new Error(`${k} is not set: run this through cargo test --test dashboard`);
}
fs.mkdirSync(SCREENSHOTS, { recursive: true });
const PASSWORD = 'a long owner password';

/** The owner's token, for what happens outside the dashboard. */
async function ownerApi(method, p, body) {
  const res = await fetch(BOX_URL + p, {
    method,
    headers: { Authorization: `Bearer ${OWNER_TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function eventually(what, f, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}${last ? ': ' + last.message : ''}`);
}

let step = 'start';
function log(s) {
  step = s;
  console.log(`-- ${s}`);
}

// A destination on loopback that records what reaches it.
const received = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    received.push({ path: req.url, body: Buffer.concat(chunks).toString() });
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('stored');
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const destination = `http://127.0.0.1:${receiver.address().port}/backup`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
// The dashboard must make no request off the box.
const foreign = [];
page.on('request', (r) => { if (!r.url().startsWith(BOX_URL) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url()); });
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const shot = (name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

try {
  log('without a session, a page sends the owner to log in');
  await page.goto(BOX_URL + '/apps');
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/apps');
  await page.getByText('No password is set yet').waitFor();
  const apiStatus = await page.evaluate(async () => (await fetch('/api/v1/stores')).status);
  assert.equal(apiStatus, 401, 'the API refuses a browser without a session');

  log('first run: the one-time link sets the password');
  await page.goto(LOGIN_LINK);
  await page.getByRole('heading', { name: 'Set up your box' }).waitFor();
  await shot('01-setup');
  await page.getByLabel('New password').fill(PASSWORD);
  await page.getByLabel('Repeat it').fill(PASSWORD);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your box' }).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'databox_session');
  assert.ok(session, 'a session cookie was set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('databox_session')), false, 'scripts cannot read the session');

  log('the link works once');
  const reuse = await (await fetch(LOGIN_LINK)).status;
  assert.equal(reuse, 404);

  log('log out, then log in with the password');
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/login/);
  await page.goto(BOX_URL + '/');
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not the password of this box' }).waitFor();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your box' }).waitFor();

  log('install the host-metrics driver from the catalogue (no data requests: nothing to choose)');
  await page.getByRole('link', { name: 'Apps & drivers' }).click();
  await page.getByRole('heading', { level: 1, name: 'Apps and drivers' }).waitFor();
  const catalogue = page.getByRole('region', { name: 'Catalogue' });
  await catalogue.getByRole('row', { name: /host-metrics/ }).getByRole('link', { name: 'Review and install' }).click();
  await page.getByRole('heading', { level: 1, name: 'Install host-metrics' }).waitFor();
  await page.getByRole('button', { name: 'Install' }).click();
  await page.getByRole('article', { name: 'host-metrics' }).getByText('running').waitFor({ timeout: 20000 });

  log('install the hourly-chart app with its permission review');
  await eventually('host-metrics to record its first values', async () => {
    const ds = await ownerApi('GET', '/api/v1/stores/host-metrics/ts/cpu-load/length');
    return ds.result > 0;
  });
  await page.getByRole('region', { name: 'Catalogue' }).getByRole('row', { name: /hourly-chart/ }).getByRole('link', { name: 'Review and install' }).click();
  await page.getByRole('heading', { level: 1, name: 'Install hourly-chart' }).waitFor();
  const review = page.getByRole('region', { name: 'What it asks for' });
  await review.getByText(/hourly/).first().waitFor();
  const reviewText = await review.innerText();
  assert.match(reviewText, /read/i, 'the review says it reads data');
  assert.match(reviewText, /draw the hourly averages/, 'the review gives the purpose');
  await page.getByLabel('source (needed)').selectOption('host-metrics/cpu-load');
  await page.getByLabel(/A name for the series/).fill('Box CPU load');
  await shot('02-install-review');
  await page.getByRole('button', { name: 'Install' }).click();
  const card = page.getByRole('article', { name: 'hourly-chart' });
  await card.getByText('running').waitFor({ timeout: 20000 });
  await shot('03-apps');

  log("open the app's own page and see its chart");
  await card.getByRole('link', { name: 'Open its page' }).click();
  await page.waitForURL(/\/app\/hourly-chart\//);
  await eventually('the chart to show', async () => {
    await page.reload();
    return (await page.locator('svg').count()) > 0;
  }, 60000);
  assert.match(await page.content(), /Box CPU load/);
  await shot('04-app-chart');

  log('browse the data: a week of readings charted with aggregates, downloaded as CSV');
  // A week of room temperatures every 5 minutes, as a driver would have written them.
  await ownerApi('PUT', '/api/v1/stores/home', { description: 'Home sensors' });
  await ownerApi('PUT', '/api/v1/stores/home/datasources/temperature', { store_type: 'ts', type: 'temperature', unit: 'celsius', description: 'Living room temperature' });
  const now = Date.now();
  const points = [];
  for (let t = now - 7 * 86400e3; t <= now; t += 300e3) {
    points.push({ timestamp: Math.round(t), data: { value: +(20 + 3 * Math.sin((t / 86400e3) * 2 * Math.PI) + Math.random()).toFixed(2), room: 'living' } });
  }
  await ownerApi('POST', '/api/v1/stores/home/ts/temperature/batch', points);
  await page.goto(BOX_URL + '/data');
  await page.getByRole('link', { name: 'temperature' }).click();
  await page.getByRole('heading', { level: 1, name: 'home / temperature' }).waitFor();
  await page.locator('svg.chart polygon.band').waitFor();
  assert.match(await page.locator('.range-label').innerText(), new RegExp(`${points.length.toLocaleString('en-US')} points, in periods of`));
  await page.getByRole('button', { name: 'Day', exact: true }).click();
  await page.locator('.range-label').filter({ hasText: /: \d+ points/ }).waitFor();
  await page.getByRole('button', { name: 'All' }).click();
  await page.locator('svg.chart polygon.band').waitFor();
  const csvHref = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
  const csv = await page.evaluate(async (href) => (await fetch(href)).text(), csvHref);
  const lines = csv.trim().split('\n');
  assert.equal(lines[0], 'timestamp,time,value,tags');
  assert.equal(lines.length, points.length + 1, 'the CSV has every point');
  await shot('05-datasource');

  log("revoke the app's grant, and see its next read refused in the audit view");
  await page.getByRole('link', { name: 'Access' }).click();
  const principal = page.getByRole('article', { name: 'hourly-chart' });
  await principal.getByRole('button', { name: /Revoke read on host-metrics\/cpu-load/ }).click();
  await page.getByText('may no longer read host-metrics/cpu-load').waitFor();
  await shot('06-access');
  // Its next run reads the series again: a restart runs it at once.
  await page.getByRole('link', { name: 'Apps & drivers' }).click();
  await page.getByRole('article', { name: 'hourly-chart' }).getByRole('button', { name: 'Restart' }).click();
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByLabel('Who').selectOption('hourly-chart');
  await page.getByLabel('Outcome').selectOption('refused');
  await page.getByRole('button', { name: 'Show' }).click();
  await eventually('a refused read in the audit view', async () => {
    const rows = page.getByRole('row').filter({ hasText: 'host-metrics/cpu-load' }).filter({ hasText: 'refused' });
    if (await rows.count()) return true;
    await page.getByRole('button', { name: 'Show' }).click();
    return false;
  });
  await page.getByText(/Verified: .* chain intact/).waitFor();
  await shot('07-audit');

  log('mint a token for a phone, with its QR code');
  await page.getByRole('link', { name: 'Access' }).click();
  await page.getByLabel('For', { exact: true }).selectOption('');
  await page.getByLabel("New client's name").fill('phone-backup');
  await page.getByLabel('About').fill('Backups from my phone');
  await page.getByRole('button', { name: 'Make a token' }).click();
  await page.getByRole('img', { name: /QR code of the new token/ }).waitFor();
  const clientToken = await page.getByLabel('The token').inputValue();
  assert.ok(clientToken.length > 40);
  await shot('08-token');

  log('hold the new client\'s exports for review, then approve one after reading it');
  await ownerApi('PUT', '/api/v1/exports/approved/phone-backup', { destination, max_bytes: 100000, per_hour: 10 });
  await page.getByRole('link', { name: 'Exports' }).click();
  await page.getByLabel('phone-backup').check();
  await page.getByText('exports now wait for you').waitFor();
  const submitted = await fetch(`${BOX_URL}/api/v1/exports?destination=${encodeURIComponent(destination)}`, {
    method: 'POST', headers: { Authorization: `Bearer ${clientToken}`, 'Content-Type': 'text/plain' }, body: 'steps today: 9120',
  });
  assert.equal(submitted.status, 202, await submitted.text());
  await page.reload();
  const waiting = page.getByRole('region', { name: 'Waiting for your decision' });
  await waiting.getByText('steps today: 9120').waitFor();
  await shot('09-export-review');
  assert.equal(received.length, 0, 'nothing leaves before the owner approves');
  await waiting.getByRole('button', { name: 'Approve and send' }).click();
  await eventually('the export to arrive', () => received.length === 1);
  assert.equal(received[0].body, 'steps today: 9120');
  await eventually('its receipt', async () => {
    await page.reload();
    return (await page.getByRole('region', { name: 'Receipts' }).getByRole('row', { name: /phone-backup/ }).count()) > 0;
  });

  log('read the statement');
  await page.getByRole('link', { name: 'Statement' }).click();
  const statement = page.locator('article.statement');
  await statement.getByText('hourly-chart', { exact: false }).first().waitFor();
  const text = await statement.innerText();
  assert.match(text, /hourly-chart/);
  assert.match(text, /phone-backup/);
  assert.match(text, /sent data out of the box/);
  await shot('10-statement');

  log('import an Apple Health export and watch it finish');
  await page.getByRole('link', { name: 'Imports' }).click();
  await page.getByLabel('What it is').selectOption('apple-health');
  await page.getByLabel("Its path on the box's machine").fill(process.env.HEALTH_EXPORT);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  const job = page.getByRole('article', { name: /^Import import-/ }).first();
  await job.getByText('done').waitFor({ timeout: 60000 });
  const written = Number(process.env.HEALTH_ITEMS).toLocaleString('en-US');
  await job.getByText(`${written} items written into`).waitFor();
  await job.getByText(/Skipped: /).click();
  await job.getByRole('cell', { name: 'duplicate record' }).waitFor();
  await shot('12-imports');

  log('home, on a phone screen');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(BOX_URL + '/');
  await page.getByRole('heading', { level: 1, name: 'Your box' }).waitFor();
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('link', { name: 'Exports' }).waitFor();
  await shot('11-home-phone');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(BOX_URL + '/');
  await page.getByRole('heading', { level: 1, name: 'Your box' }).waitFor();
  await shot('00-home');

  assert.deepEqual(foreign, [], 'no request left the box');
  assert.deepEqual(pageErrors, [], 'no script errors');
  console.log(`ok: the dashboard walk-through passed; screenshots in ${SCREENSHOTS}`);
} catch (e) {
  console.error(`FAILED at step "${step}": ${e.stack ?? e}`);
  if (pageErrors.length) console.error('script errors on the page:', pageErrors);
  await page.screenshot({ path: path.join(SCREENSHOTS, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`page at failure: ${page.url()} (screenshot: ${path.join(SCREENSHOTS, 'failure.png')})`);
  process.exitCode = 1;
} finally {
  await browser.close();
  receiver.close();
}
