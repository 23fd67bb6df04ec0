// Firebreak's web pages in Debian's chromium, driven by playwright-core: every flow a responder
// needs at 3 a.m., at one viewport width. Run by crates/firebreak/tests/web_browser.rs:
//   node web.mjs BASE SETUP_URL WIDTH SCREENSHOT_DIR PASSWORD BOB_INVITE VAL_INVITE API_JSON
// Users bob (responder) and val (viewer) exist with invitation links, and an alert with script
// in its summary is open. API_JSON holds the admin token, a token of bob's, and the routing
// keys of checkout and payments; an alert on payments pages alice through a webhook. Fails (exit 1) on the first broken flow, on any script error or
// Content-Security-Policy violation, and on serious or critical axe-core findings.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const [base, setup, widthText, shots, password, bobInvite, valInvite, apiJson] = process.argv.slice(2);
const keys = JSON.parse(apiJson);
const width = Number(widthText);
const phone = width < 600;
const viewport = { width, height: phone ? 800 : 900 };
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const problems = [];
let step = 'start';

function watch(page, who) {
  page.on('console', (m) => {
    // `[object Event]` is the SSE extension noting that a page it was leaving closed its
    // stream; the live checks below prove the streams work.
    if (m.type() === 'error' && m.text() !== '[object Event]') problems.push(`${who} at ${step}: console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${who} at ${step}: script error: ${e.message}`));
  page.on('dialog', async (d) => {
    problems.push(`${who} at ${step}: a dialog opened (${d.message()}): text ran as script`);
    await d.dismiss();
  });
}

async function context(colorScheme = 'light') {
  return browser.newContext({ viewport, colorScheme, isMobile: phone, hasTouch: phone });
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  // Every page fits the screen: nothing makes a phone scroll sideways.
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  if (scroll > client) problems.push(`${name}: the page is ${scroll} px wide on a ${client} px screen`);
}

// The API, as another program would call it: to set things up, and to check what the pages did.
async function call(token, method, path, body) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${step}: ${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Drops the console errors a step caused on purpose (a refused request the page reports).
function expectConsoleErrors(who, at, status) {
  for (let i = problems.length - 1; i >= 0; i--) if (problems[i].startsWith(`${who} at ${at}: console error`) && problems[i].includes(String(status))) problems.splice(i, 1);
}

function check(cond, message) {
  if (!cond) throw new Error(`${step}: ${message}`);
}

// Opens an invitation link, sets the password, and lands signed in.
async function acceptInvite(page, link) {
  await page.goto(link);
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
}

async function signIn(page, login) {
  await page.goto(`${base}/login`);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
}

// axe-core in a context that lets the test inject it (the pages' own policy would refuse
// an injected script); the pages are the same. Each page is checked in light and dark mode,
// since their colours differ.
async function axe(cookies, paths) {
  for (const colorScheme of ['light', 'dark']) await axeIn(colorScheme, cookies, paths);
}

async function axeIn(colorScheme, cookies, paths) {
  const ctx = await browser.newContext({ viewport, colorScheme, bypassCSP: true });
  await ctx.addCookies(cookies);
  const page = await ctx.newPage();
  for (const path of paths) {
    await page.goto(`${base}${path}`);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
    });
    const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of bad) problems.push(`axe on ${path} (${colorScheme}): ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
    console.log(`axe ${path} (${colorScheme}): ${result.length} findings, ${bad.length} serious or critical`);
  }
  await ctx.close();
}

try {
  // 1. The first admin from the setup link, then signing in with the password.
  step = 'setup';
  const ctx = await context();
  const page = await ctx.newPage();
  watch(page, 'alice');
  await page.goto(setup);
  await shot(page, '01-setup');
  await page.fill('#handle', 'alice');
  await page.fill('#name', 'Alice Example');
  await page.fill('#email', 'alice@example.com');
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
  step = 'sign out and in';
  await Promise.all([page.waitForURL(/\/login$/), page.click('text=Sign out')]);
  await page.fill('#login', 'alice');
  await page.fill('#password', 'not the password at all');
  await page.click('button[type=submit]');
  check(await page.isVisible('text=the handle or password is wrong'), 'a wrong password says so');
  await shot(page, '02-sign-in-refused');
  // The refused sign-in answered 401, which the console reports; that is the point here.
  for (let i = problems.length - 1; i >= 0; i--) if (problems[i].startsWith('alice at sign out and in: console error') && problems[i].includes('401')) problems.splice(i, 1);
  await signIn(page, 'alice');
  await shot(page, '03-home');

  // 2. Declare a SEV2.
  step = 'declare';
  await page.goto(`${base}/incidents`);
  await shot(page, '04-incidents-empty');
  check(await page.isVisible('text=No incidents yet'), 'the empty list teaches how to start');
  await page.fill('#title', 'Checkout returns 500s');
  await page.selectOption('#severity', 'SEV2');
  await page.fill('#services', 'checkout');
  await Promise.all([page.waitForURL(/\/incidents\/\d+$/), page.click('form.stack button[type=submit]')]);
  const room = page.url();
  check(await page.isVisible('h1:has-text("Checkout returns 500s")'), 'the room opens');
  check(await page.isVisible('.badge.sev:has-text("SEV2")'), 'the room shows the severity');
  check(await page.isVisible('text=Deploys are frozen'), 'a SEV2 freezes its services');
  check(await page.isVisible('.room-head >> text=Checkout API'), "the header names the service's status page component");

  // 3. A second responder takes IC; the first sees it live.
  step = 'take IC';
  const ctx2 = await context('dark');
  const bob = await ctx2.newPage();
  watch(bob, 'bob');
  await acceptInvite(bob, bobInvite);
  await bob.goto(room);
  await bob.click('button:has-text("Take Incident Commander")');
  await page.waitForSelector('.role-row:has-text("Incident Commander") .holder:has-text("bob")', { timeout: 3000 });
  await bob.waitForSelector('.role-row:has-text("Incident Commander") .holder:has-text("bob")', { timeout: 3000 });

  // 4. Tick a checklist item and write a note; the other browser sees the note within a second.
  step = 'checklist';
  await bob.click('button[aria-label="bridge opened"]');
  await page.waitForSelector('.item.done:has-text("bridge opened")', { timeout: 3000 });
  step = 'note';
  await page.fill('#note', 'Error rate is 12%. Rolling back checkout to v41.');
  const sent = Date.now();
  await page.click('#note-form button[type=submit]');
  await bob.waitForSelector('#timeline :text("Error rate is 12%")', { timeout: 1000 });
  const latency = Date.now() - sent;
  console.log(`a note reached the second browser in ${latency} ms`);
  check(latency < 1000, `the note took ${latency} ms`);
  check((await page.inputValue('#note')) === '', 'the composer empties after a note');
  await shot(page, '05-room');
  await shot(bob, '06-room-second-browser-dark');

  // 4b. Change the severity with a reason, and assign a role from the list.
  step = 'severity';
  await page.click('summary:has-text("Change severity")');
  await page.selectOption('#new-severity', 'SEV1');
  await page.fill('#reason', 'Every checkout fails now');
  await page.click('button:has-text("Change severity")');
  await bob.waitForSelector('.room-head .badge.sev:has-text("SEV1")', { timeout: 3000 });
  step = 'assign';
  await page.click('.role-row:has-text("Comms Lead") summary:has-text("Assign")');
  await page.selectOption('#assign-comms-lead', 'bob');
  await page.click('.role-row:has-text("Comms Lead") button:has-text("Save")');
  await bob.waitForSelector('.role-row:has-text("Comms Lead") .holder:has-text("bob")', { timeout: 3000 });

  // 4c. A runbook action: dry run, run, and a second person approves.
  step = 'runbook';
  const action = page.locator('form.action-form:has-text("restart")');
  await action.locator('input[name=p_namespace]').fill('shop');
  await action.locator('button:has-text("Dry run")').click();
  await page.waitForSelector('#flash :text("nothing was run")', { timeout: 3000 });
  check(await page.isVisible('#flash :text("restarting checkout in shop")'), 'the dry run shows the command');
  await action.locator('button[value="0"]').click();
  await page.waitForSelector('#flash :text("Waiting for a second person")', { timeout: 3000 });
  await bob.waitForSelector('button:has-text("Approve")', { timeout: 3000 });
  await bob.click('button:has-text("Approve")');
  await page.waitForSelector('#timeline :text("restart succeeded")', { timeout: 10000 });
  // The panels refresh after the last of a quick run of changes (started, then succeeded
  // within moments), so the Runs panel ends up saying so without a reload.
  const succeeded = await page
    .waitForSelector('.runs :text("succeeded")', { timeout: 5000 })
    .then(() => true, () => false);
  check(succeeded, 'the Runs panel says the run succeeded, live');
  check(await page.isVisible('.runs pre:has-text("restarting checkout in shop")'), 'the run shows its output');
  await shot(page, '05b-room-runbook');

  // 5. Post a public status update and see it on /status.
  step = 'public update';
  await page.check('input[name=audience][value=public]');
  await page.selectOption('#update-status', 'identified');
  await page.fill('#update-body', 'We found the cause of checkout errors and are rolling back.');
  // Someone else works in the room while this is being typed: the panels refresh, and what
  // was typed and chosen stays.
  const refreshed = page.waitForResponse((r) => r.url().endsWith('/panels') && r.status() === 200, { timeout: 5000 });
  await bob.fill('#note', 'Rollback to v41 started.');
  await bob.click('#note-form button[type=submit]');
  await page.waitForSelector('#timeline :text("Rollback to v41 started")', { timeout: 3000 });
  const roomId = new URL(room).pathname.split('/').pop();
  await call(keys.admin, 'PATCH', `/api/v1/incidents/${roomId}`, { summary: 'Checkout fails after the v42 deploy.' });
  await refreshed;
  check((await page.inputValue('#update-body')).startsWith('We found the cause'), 'a refresh of the panels keeps the update being typed');
  check(await page.isChecked('#audience-public'), 'a refresh keeps the chosen audience');
  check((await page.inputValue('#update-status')) === 'identified', 'a refresh keeps the chosen status');
  await page.click('#update-form button[type=submit]');
  await page.waitForSelector('.updates :text("We found the cause of checkout errors")', { timeout: 3000 });
  check((await page.inputValue('#update-body')) === '', 'the update form empties once the update is posted');
  const status = await ctx.newPage();
  watch(status, 'status page');
  await status.goto(`${base}/status`);
  check(await status.isVisible('text=We found the cause of checkout errors and are rolling back.'), 'the update is on /status');
  check(!(await status.isVisible('text=Error rate is 12%')), 'internal notes stay off /status');
  await shot(status, '07-status-page');
  await status.close();

  // 6. Acknowledge from the alerts page; script in a summary stays text.
  step = 'alerts';
  await page.goto(`${base}/alerts`);
  const summary = page.locator('.alert-row .summary-text', { hasText: 'Disk full' });
  const text = await summary.textContent();
  check(text.includes('<img src=x onerror=alert(1)><script>alert(2)</script>'), `the summary shows as text: ${text}`);
  check((await page.locator('.alert-row img').count()) === 0, 'no image element came from the summary');
  check(text.includes('[U+202E]gnp.exe'), `a direction override shows as inert text: ${text}`);
  await page.click('button[aria-label^="Acknowledge alert"]');
  await page.waitForSelector('.alert-row:has-text("Disk full") .badge.ok:has-text("acknowledged")', { timeout: 3000 });
  await shot(page, '08-alerts');
  step = 'silence';
  await page.click('text=Silence…');
  check((await page.inputValue('#matchers')).includes('alertname="DiskFull"'), 'the silence is prefilled from the alert');
  await shot(page, '09-silence');
  const silenceForm = page.url();
  // A matcher with a typo is refused with a message that says what is wrong.
  await page.fill('#matchers', 'alertname=~"Disk(');
  await page.fill('#comment', 'Disk is being replaced');
  await page.click('button:has-text("Silence")');
  check(await page.isVisible('text=alertname'), `a broken matcher is named: ${await page.textContent('main')}`);
  await shot(page, '09a-silence-refused');
  expectConsoleErrors('alice', 'silence', 422);
  expectConsoleErrors('alice', 'silence', 400);
  await page.goto(silenceForm);
  await page.fill('#comment', 'Disk is being replaced');
  await page.selectOption('#duration', '4h');
  await Promise.all([page.waitForURL(/\/alerts(#silences)?$/), page.click('button:has-text("Silence")')]);
  check(await page.isVisible('#silences .silence-row:has-text("Disk is being replaced")'), 'the new silence is listed');
  check(await page.isVisible('#silences code:has-text(\'alertname="DiskFull"\')'), 'the silence shows its matchers');
  const silences = await call(keys.admin, 'GET', '/api/v1/silences');
  check(JSON.stringify(silences).includes('Disk is being replaced'), `the server has the silence: ${JSON.stringify(silences)}`);
  // The same alert from another disk arrives silenced: listed, marked, and paging nobody.
  await call(keys.admin, 'POST', `/api/v1/ingest/generic/${keys.checkout}`, {
    summary: 'Disk full again on db-1', dedup_key: 'disk-full-2', labels: { alertname: 'DiskFull', instance: 'db-1' },
  });
  await page.waitForSelector('.alert-row:has-text("Disk full again") .badge:text-is("suppressed")', { timeout: 3000 });
  await shot(page, '09b-silenced');

  step = 'resolve alert';
  const first = page.locator('.alert-row', { hasText: 'gnp.exe' });
  const alertId = Number((await first.getAttribute('id')).replace('alert-', ''));
  await first.locator('button:has-text("Resolve")').click();
  await page.waitForSelector(`#alert-${alertId}`, { state: 'detached', timeout: 3000 });
  const resolvedAlert = await call(keys.admin, 'GET', `/api/v1/alerts/${alertId}`);
  check(resolvedAlert.status === 'resolved', `the server has the alert resolved: ${resolvedAlert.status}`);
  await page.goto(`${base}/alerts?show=resolved`);
  check(await page.isVisible(`#alert-${alertId} .badge:text-is("resolved")`), 'the resolved list shows it');
  check(!(await page.isVisible(`#alert-${alertId} button`)), 'a resolved alert has no buttons');
  await shot(page, '09c-alerts-resolved');

  // 6b. A critical alert on payments pages alice; home shows the page with its button.
  step = 'paged';
  await call(keys.admin, 'POST', '/v2/enqueue', {
    routing_key: keys.payments, event_action: 'trigger', dedup_key: 'payments-5xx',
    payload: { summary: 'Payments 5xx above 5%', source: 'web-1', severity: 'critical' },
  });
  let delivered = false;
  for (let i = 0; i < 20 && !delivered; i++) {
    await page.goto(`${base}/`);
    delivered = await page.isVisible('.page-row:has-text("Payments 5xx") :text("delivered")');
    if (!delivered) await page.waitForTimeout(250);
  }
  check(delivered, `home shows the delivered page: ${await page.textContent('main')}`);
  const pageRow = page.locator('.page-row', { hasText: 'Payments 5xx' });
  check(await pageRow.locator('button:has-text("Acknowledge")').isVisible(), 'the waiting page has its button');
  await shot(page, '03b-home-paged');
  await axe(await ctx.cookies(), ['/']);
  const pagedAlert = (await call(keys.admin, 'GET', '/api/v1/alerts?status=open')).items.find((a) => a.dedup_key === 'payments-5xx');
  check(pagedAlert, 'the paging alert is open');
  await Promise.all([page.waitForURL(/\/(alerts|incidents\/\d+)$/), pageRow.locator('button:has-text("Acknowledge")').click()]);
  check(await page.isVisible(`#alert-${pagedAlert.id} .badge.ok:has-text("acknowledged")`), 'the acknowledged alert shows it');
  const escalations = await call(keys.admin, 'GET', `/api/v1/escalations?alert=${pagedAlert.id}`);
  const esc = escalations.items[0];
  check(esc && esc.status === 'acknowledged' && esc.acknowledged_by === 'alice', `the escalation is acknowledged by alice: ${JSON.stringify(esc)}`);
  await page.goto(`${base}/`);
  check(!(await page.isVisible('.page-row:has-text("Payments 5xx")')), 'the acknowledged page leaves home');
  check(!(await page.isVisible('text=Pages waiting for you')), 'nothing waits any more');

  // 7. A viewer sees no controls, and the server refuses a change anyway.
  step = 'viewer';
  const ctx3 = await context();
  const val = await ctx3.newPage();
  watch(val, 'val');
  await acceptInvite(val, valInvite);
  await val.goto(room);
  check(!(await val.isVisible('#note-form')), 'a viewer has no note composer');
  check(!(await val.isVisible('text=Set status')), 'a viewer has no status buttons');
  const refused = await val.evaluate(async (path) => {
    const token = document.querySelector('input[name=_csrf]').value;
    const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${token}&body=sneaky` });
    return { status: r.status, text: await r.text() };
  }, new URL(room).pathname + '/notes');
  check(refused.status === 403 && refused.text.includes('needs the responder role'), `a viewer's note is refused: ${refused.status}`);
  await shot(val, '10-room-viewer');
  // The refusal wrote to the console; that is the point of this step, not a page error.
  for (let i = problems.length - 1; i >= 0; i--) if (problems[i].startsWith('val at viewer: console error') && problems[i].includes('403')) problems.splice(i, 1);

  // 8. Keyboard: the skip link is first, and a form can be sent without a mouse.
  step = 'keyboard';
  await page.goto(room);
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'the first Tab reaches "Skip to content"');
  await page.focus('#note');
  await page.keyboard.type('Typed with the keyboard only.');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#timeline :text("Typed with the keyboard only.")', { timeout: 3000 });

  // 9. On call: who is on call now, and an override.
  step = 'on call';
  await page.goto(`${base}/oncall`);
  check(await page.isVisible('text=is on call until'), 'the on-call page says who is on call now');
  await page.selectOption('#ovr-user', 'bob');
  await page.fill('#ovr-hours', '4');
  await Promise.all([page.waitForURL(/covered=primary/), page.click('text=Add override')]);
  check(await page.isVisible('text=bob is on call until'), 'the override puts bob on call now');
  await shot(page, '11-oncall');

  // 10. Admin: a token shown once, the audit log verified.
  step = 'admin';
  await page.goto(`${base}/admin`);
  await page.click('summary:has-text("Make a token")');
  await page.fill('#t-name', 'ci-deploys');
  await page.click('text=Make the token');
  check((await page.inputValue('#secret')).startsWith('fbt_'), 'the new token is shown once');
  await shot(page, '12-admin-token');
  step = 'admin integration key';
  await page.goto(`${base}/admin`);
  await page.click('summary:has-text("Add an integration key")');
  await page.selectOption('#i-service', 'payments');
  await page.fill('#i-name', 'grafana');
  await page.click('text=Make the key');
  check(await page.isVisible('h1:has-text("Integration grafana for payments")'), 'the key page names the integration');
  const integrationKey = await page.inputValue('#secret');
  check(integrationKey.length >= 16, `the new key is shown once: ${integrationKey}`);
  await shot(page, '12b-admin-integration-key');
  await page.goto(`${base}/admin`);
  const intRow = page.locator('#integrations tr', { hasText: 'grafana' });
  const listed = await intRow.textContent();
  check(listed.includes('payments') && listed.includes(`…${integrationKey.slice(-4)}`), `the key is listed masked: ${listed}`);
  check(!(await page.content()).includes(integrationKey), 'the admin page never shows the key again');
  // The key works: an alert sent with it arrives on payments.
  const sentWithKey = await fetch(`${base}/api/v1/ingest/generic/${integrationKey}`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ summary: 'Grafana says latency is up', dedup_key: 'grafana-latency', severity: 'warning' }),
  });
  check(sentWithKey.ok, `the new key is accepted: ${sentWithKey.status}`);
  step = 'admin invitation';
  await page.goto(`${base}/admin`);
  await page.click('summary:has-text("Add a user")');
  await page.fill('#u-handle', 'carol');
  await page.click('text=Add and make an invitation link');
  check((await page.inputValue('#secret')).includes('/invite/fbi_'), 'the new user gets an invitation link, shown once');
  step = 'admin freeze';
  await page.goto(`${base}/admin`);
  await page.click('summary:has-text("Declare a freeze")');
  await page.fill('#f-reason', 'Black Friday');
  await Promise.all([page.waitForEvent('framenavigated'), page.click('text=Declare the freeze')]);
  await page.waitForLoadState();
  check(await page.isVisible('#freezes :text("Black Friday")'), 'the declared freeze is listed');
  await Promise.all([page.waitForEvent('framenavigated'), page.click('#freezes button:has-text("Lift")')]);
  await page.waitForLoadState();
  check(!(await page.isVisible('#freezes :text("Black Friday")')), 'the lifted freeze is gone');
  // Nothing on the page is wider than the phone.
  check(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), 'the admin page fits the screen');
  step = 'admin webhook';
  await page.goto(`${base}/admin`);
  await page.click('#webhooks a');
  check(await page.isVisible('h1:has-text("Deliveries to")'), 'the delivery log opens');
  await page.goto(`${base}/admin/audit`);
  check(await page.isVisible('text=Verified:'), 'the audit chain verifies');
  check(await page.isVisible('td:has-text("session.sign_in_failed")'), 'the failed sign-in is in the audit log');
  await shot(page, '13-audit');
  await page.goto(`${base}/admin`);
  await shot(page, '14-admin');
  const refusedAdmin = await val.goto(`${base}/admin`);
  check(refusedAdmin.status() === 403, `a viewer is refused the admin page: ${refusedAdmin.status()}`);
  for (let i = problems.length - 1; i >= 0; i--) if (problems[i].startsWith('val at admin') && problems[i].includes('403')) problems.splice(i, 1);

  // 10b. Break-glass: bob (a responder) takes admin on the incident; every page he opens says
  // so, and the room lists the grant; after he ends it, both are gone.
  step = 'break-glass';
  const roomPath = new URL(room).pathname;
  const incidentId = roomPath.split('/').pop();
  const grant = await call(keys.bob, 'POST', `/api/v1/incidents/${incidentId}/break-glass`, { role: 'admin', duration: '30m', reason: 'rotate the leaked key' });
  check(grant.status === 'active', `the grant is in force: ${grant.status}`);
  await bob.goto(`${base}/`);
  check(await bob.isVisible(`.top-glass:has-text("grant ${grant.id}")`), 'every page shows the break-glass banner');
  check(await bob.isVisible('nav >> text=Admin'), 'break-glass admin sees the Admin page');
  await shot(bob, '15-break-glass-home-dark');
  await bob.goto(room);
  check(await bob.isVisible('.banner-glass:has-text("Break-glass access"):has-text("rotate the leaked key")'), 'the room lists the grant');
  check(await bob.isVisible(`.top-glass:has-text("grant ${grant.id}")`), 'the room shows the banner too');
  await shot(bob, '15b-break-glass-room-dark');
  await axe(await ctx2.cookies(), ['/', roomPath]);
  await call(keys.bob, 'POST', `/api/v1/break-glass/${grant.id}/revoke`);
  await bob.goto(room);
  check(!(await bob.isVisible('.top-glass')), 'the banner is gone once the grant ends');
  check(!(await bob.isVisible('section.banner-glass')), 'the room no longer lists the ended grant');
  check(!(await bob.isVisible('nav >> text=Admin')), 'bob is a responder again');
  const admin403 = await bob.goto(`${base}/admin`);
  check(admin403.status() === 403, `the Admin page refuses bob again: ${admin403.status()}`);
  expectConsoleErrors('bob', 'break-glass', 403);

  // 10c. The incident's lifecycle from the room: mitigated (which lifts its freeze), a move
  // back refused with a reason, then resolved.
  step = 'set status';
  await bob.goto(room);
  await page.goto(room);
  check(await page.isVisible('text=Deploys are frozen'), 'the SEV1 still freezes checkout');
  await page.selectOption('#status', 'mitigated');
  await page.click('button:has-text("Set status")');
  await page.waitForSelector('.room-head .badge.st-mitigated', { timeout: 3000 });
  await bob.waitForSelector('.room-head .badge.st-mitigated', { timeout: 3000 });
  await page.waitForSelector('text=Deploys are frozen', { state: 'detached', timeout: 3000 });
  check((await call(keys.admin, 'GET', `/api/v1/incidents/${incidentId}`)).status === 'mitigated', 'the server has it mitigated');
  await page.selectOption('#status', 'identified');
  await page.click('button:has-text("Set status")');
  await page.waitForSelector('#flash :text("cannot move back from mitigated to identified")', { timeout: 3000 });
  check(!(await page.isVisible('#flash :text("Someone else")')), 'a refused move does not blame someone else');
  expectConsoleErrors('alice', 'set status', 409);
  expectConsoleErrors('alice', 'set status', 422);
  await shot(page, '16-room-mitigated');
  await page.selectOption('#status', 'resolved');
  await page.click('button:has-text("Set status")');
  await page.waitForSelector('.room-head .badge.st-resolved', { timeout: 3000 });
  await bob.waitForSelector('.room-head .badge.st-resolved', { timeout: 3000 });
  check((await call(keys.admin, 'GET', `/api/v1/incidents/${incidentId}`)).status === 'resolved', 'the server has it resolved');
  await page.reload();
  check((await page.inputValue('#status')) === 'resolved', 'after a reload the room says resolved');
  check(await page.isVisible('#timeline :text("resolved")'), 'the timeline records it');
  await shot(page, '17-room-resolved');

  // 10d. The postmortem: drafted once the incident resolved, reached from the room, a section
  // edited (the blameless check flags "human error"), a stale save from a second browser kept
  // and explained, a finding dismissed, publishing confirmed past the other, and exported.
  step = 'postmortem';
  const pmPath = `${roomPath}/postmortem`;
  await Promise.all([page.waitForURL(new RegExp(`${pmPath}$`)), page.click('a:has-text("Postmortem and action items")')]);
  let drafted = await page.isVisible('#pm-status');
  for (let i = 0; i < 40 && !drafted; i++) {
    await page.waitForTimeout(250);
    await page.reload();
    drafted = await page.isVisible('#pm-status');
  }
  check(drafted, `resolving drafts the postmortem: ${await page.textContent('main')}`);
  check(await page.isVisible('#pm-status:has-text("postmortem: draft")'), 'a new postmortem is a draft');
  check(await page.isVisible('#section-summary h2:has-text("Summary")'), 'the Summary section is shown');
  check(await page.isVisible('.md .prompt:has-text("To fill in")'), 'the draft asks what only people know');
  await page.goto(room);
  check(await page.isVisible('.room-head a.badge:has-text("postmortem: draft")'), 'the room shows the postmortem status beside the lifecycle');
  await page.goto(`${base}${pmPath}`);
  const versionOf = async (p) => Number((await p.textContent('#pm-version')).match(/version (\d+)/)[1]);
  const before = await versionOf(page);
  await shot(page, '18-postmortem-draft');
  // bob opens the page now, so his copy is one version behind once alice saves.
  await bob.goto(`${base}${pmPath}`);
  step = 'postmortem edit';
  await page.click('#section-summary summary:has-text("Edit")');
  await page.fill('#md-summary', 'Checkout failed for 40 minutes after the v42 deploy. The outage was **human error**.\n\nWe should have caught it before the deploy.');
  await Promise.all([page.waitForURL(/notice=saved/), page.click('#section-summary button:has-text("Save")')]);
  check(await page.isVisible('#section-summary .md:has-text("Checkout failed for 40 minutes")'), 'the saved text is shown');
  check(await page.isVisible('#section-summary .md strong:has-text("human error")'), 'the Markdown is rendered');
  check((await versionOf(page)) === before + 1, `the version moved on: ${await page.textContent('#pm-version')}`);
  check(await page.isVisible('#section-summary .md mark:has-text("human error")'), 'the finding is highlighted in the text');
  check(await page.isVisible('#section-summary .finding:has-text("human error") .meta:has-text("Try:")'), 'the finding has a reason and a suggestion');
  check(await page.isVisible('#findings'), 'the findings are summed up at the top');
  await shot(page, '19-postmortem-finding');
  step = 'postmortem stale';
  await bob.click('#section-impact summary:has-text("Edit")');
  await bob.fill('#md-impact', 'Every checkout failed; about 1,200 orders were lost.');
  await bob.click('#section-impact button:has-text("Save")');
  await bob.waitForSelector('.pm-error', { timeout: 3000 });
  check(await bob.isVisible(`.pm-error:has-text("changed since version ${before}")`), `a stale save says why: ${await bob.textContent('.pm-error')}`);
  check((await bob.inputValue('#md-impact')) === 'Every checkout failed; about 1,200 orders were lost.', 'a stale save keeps the typed text');
  check(await bob.isVisible('#section-summary .md:has-text("Checkout failed for 40 minutes")'), "the stale page shows alice's saved text");
  await shot(bob, '19b-postmortem-stale-dark');
  expectConsoleErrors('bob', 'postmortem stale', 409);
  await Promise.all([bob.waitForURL(/notice=saved/), bob.click('#section-impact button:has-text("Save")')]);
  check(await bob.isVisible('#section-impact .md:has-text("about 1,200 orders")'), 'saving again from the refreshed version works');
  step = 'postmortem dismiss';
  await page.reload();
  const shouldHave = page.locator('#section-summary .finding', { hasText: 'should have' });
  check((await shouldHave.count()) === 1, 'hindsight ("should have") is a finding too');
  await shouldHave.locator('input[name=reason]').fill('We quote the review meeting here.');
  await Promise.all([page.waitForURL(/notice=dismissed/), shouldHave.locator('button:has-text("Dismiss")').click()]);
  check(!(await page.isVisible('#section-summary .finding:has-text("should have")')), 'the dismissed finding is gone');
  check(await page.isVisible('#section-summary .finding:has-text("human error")'), 'the other finding stays');
  step = 'postmortem publish';
  await page.click('button:has-text("Move to review")');
  await page.waitForSelector('#pm-status:has-text("postmortem: in review")', { timeout: 3000 });
  await page.click('.actions button:has-text("Publish")');
  await page.waitForSelector('#confirm', { timeout: 3000 });
  check(await page.isVisible('#confirm li:has-text("human error")'), 'publishing lists the open finding and asks');
  check(await page.isVisible('#pm-status:has-text("in review")'), 'nothing is published before the confirmation');
  await shot(page, '20-postmortem-confirm');
  await Promise.all([page.waitForURL(/notice=published/), page.click('button:has-text("Publish anyway")')]);
  check(await page.isVisible('#pm-status:has-text("postmortem: published")'), 'the postmortem is published');
  check(!(await page.isVisible('#section-summary summary:has-text("Edit")')), 'a published postmortem is not edited in place');
  const md = await page.request.get(`${base}${pmPath}.md`);
  const exported = await md.text();
  check(md.ok() && exported.includes('Checkout failed for 40 minutes') && exported.includes('## Summary'), `the Markdown export: ${md.status()} ${exported.slice(0, 200)}`);
  check(await page.isVisible('a:has-text("Export Markdown")'), 'the page links the export');

  // 10e. Action items on the postmortem page: added with an owner, a due date and a ticket,
  // then done; another closed as won't do, with its reason.
  step = 'action items';
  await page.click('summary:has-text("Add an action item")');
  await page.fill('#item-title', 'Add a canary stage to checkout deploys');
  await page.selectOption('#item-owner', 'bob');
  await page.fill('#item-ticket', 'https://tracker.example.com/OPS-42');
  await Promise.all([page.waitForURL(/notice=item_added/), page.click('button:has-text("Add action item")')]);
  const canary = page.locator('#action-items .item-row', { hasText: 'Add a canary stage' });
  check(await canary.isVisible(), 'the new item is listed');
  check((await canary.textContent()).includes('bob') && (await canary.locator('a:has-text("ticket")').getAttribute('href')) === 'https://tracker.example.com/OPS-42', 'the item shows its owner and ticket');
  await page.click('summary:has-text("Add an action item")');
  await page.fill('#item-title', 'Page the checkout team on 5xx');
  await Promise.all([page.waitForURL(/notice=item_added/), page.click('button:has-text("Add action item")')]);
  await Promise.all([page.waitForURL(/notice=item_changed/), canary.locator('button:has-text("Done")').click()]);
  check(await page.isVisible('#action-items .item-row:has-text("Add a canary stage") .badge:text-is("done")'), 'the item is done');
  const paging = page.locator('#action-items .item-row', { hasText: 'Page the checkout team' });
  await paging.locator('summary:has-text("Won\'t do")').click();
  await paging.locator('input[name=reason]').fill('The alert already pages the on-call engineer.');
  await Promise.all([page.waitForURL(/notice=item_changed/), paging.locator('button:has-text("Close")').click()]);
  check(await page.isVisible('#action-items .item-row:has-text("Page the checkout team"):has-text("already pages")'), "a won't-do item shows its reason");
  await shot(page, '21-postmortem-published');
  await bob.goto(`${base}${pmPath}`);
  await shot(bob, '21b-postmortem-published-dark');
  await page.goto(`${base}/action-items`);
  check(await page.isVisible('h1:has-text("Open action items")'), 'the action items page opens');

  // 10f. A viewer reads the postmortem and cannot change it.
  step = 'postmortem viewer';
  await val.goto(`${base}${pmPath}`);
  check(await val.isVisible('#section-summary .md:has-text("Checkout failed")'), 'a viewer reads the postmortem');
  check(!(await val.isVisible('button:has-text("Publish")')) && !(await val.isVisible('summary:has-text("Edit")')) && !(await val.isVisible('summary:has-text("Add an action item")')), 'a viewer has no controls');
  const viewerEdit = await val.evaluate(async (path) => {
    const token = document.querySelector('input[name=_csrf]').value;
    const r = await fetch(`${path}/sections/summary`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${token}&version=1&markdown=sneaky` });
    return { status: r.status, text: await r.text() };
  }, pmPath);
  check(viewerEdit.status === 403 && viewerEdit.text.includes('needs the responder role'), `a viewer's edit is refused: ${viewerEdit.status}`);
  expectConsoleErrors('val', 'postmortem viewer', 403);

  // 10g. Reports, with a deploy that led to an incident this week and one that did not.
  step = 'reports';
  // Checkout's v43 went out 40 minutes ago and latency rose 10 minutes later (detected then,
  // declared now): a failed deploy. Payments' v7 went out two days ago and is fine; a payments
  // incident noticed 90 minutes ago is still open.
  const ago = (minutes) => new Date(Date.now() - minutes * 60_000).toISOString();
  await call(keys.admin, 'POST', '/api/v1/deployments', { service: 'payments', version: 'v7', at: ago(60 * 24 * 2) });
  await call(keys.admin, 'POST', '/api/v1/deployments', { service: 'checkout', version: 'v43', previous_version: 'v42', at: ago(40) });
  const second = await call(keys.admin, 'POST', '/api/v1/incidents', { title: 'Checkout latency after v43', severity: 'SEV3', services: ['checkout'], detected_at: ago(30) });
  const secondId = String(second.id).replace('INC-', '');
  await call(keys.admin, 'POST', `/api/v1/incidents/${secondId}/ack`);
  await call(keys.admin, 'PATCH', `/api/v1/incidents/${secondId}`, { status: 'resolved' });
  const third = await call(keys.admin, 'POST', '/api/v1/incidents', { title: 'Payments retries pile up', severity: 'SEV2', services: ['payments'], detected_at: ago(90) });
  await call(keys.admin, 'POST', `/api/v1/incidents/${String(third.id).replace('INC-', '')}/ack`);
  await Promise.all([page.waitForURL(/\/reports$/), page.click('nav >> text=Reports')]);
  check((await page.locator('svg#chart-times > title').textContent()).includes('time to acknowledge'), 'the time chart has its title');
  check(await page.isVisible('svg#chart-severities .bar'), 'the severity chart has bars');
  check(await page.isVisible('svg#chart-cfr .bar'), 'the change failure rate chart has a bar');
  check(!(await page.content()).includes('NaN'), 'no chart holds NaN');
  check(await page.isVisible('table.report th:has-text("SEV1")') && await page.isVisible('table.report th:has-text("SEV3")'), 'the severity table lists each severity');
  check(await page.isVisible('svg#chart-times circle.c-ack') && await page.isVisible('svg#chart-times circle.c-resolve'), 'the time chart has both series');
  check(await page.isVisible('dl.figures dd:text-is("50%")'), `one deploy of two failed: ${await page.textContent('.dora')}`);
  check(await page.isVisible(`table.report a[href="/incidents/${secondId}"]`), 'the failed deploy links its incident');
  await shot(page, '22-reports');
  await page.click('.periods a:has-text("Last 365 days")');
  await page.waitForURL(/days=365/);
  check(await page.isVisible('svg#chart-times'), 'a year of weeks draws too');
  await shot(page, '22b-reports-year');
  await bob.goto(`${base}/reports`);
  await shot(bob, '22c-reports-dark');

  // 11. Accessibility of every page.
  step = 'axe';
  await axe(await ctx.cookies(), ['/', '/incidents', new URL(room).pathname, pmPath, '/action-items', '/reports', '/reports?days=365', '/alerts', '/alerts?show=resolved', '/account', '/oncall', '/admin', '/admin/audit']);
  await axe([], ['/login']);

  await browser.close();
} catch (e) {
  problems.push(`${step}: ${e.message}`);
  await browser.close().catch(() => {});
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`ok: every flow at ${width} px; screenshots in ${shots}`);
