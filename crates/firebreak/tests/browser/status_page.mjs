// The public status page in a real browser: Debian's chromium driven by playwright-core.
// Usage: node status_page.mjs PAGE_URL OUT_DIR
// Opens the page with JavaScript on and off, at desktop and phone width, saves screenshots to
// OUT_DIR, and fails (exit 1, naming what broke) when the page is wrong.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: node status_page.mjs PAGE_URL OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  for (const js of [true, false]) {
    for (const [name, viewport] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
      const context = await browser.newContext({ javaScriptEnabled: js, viewport, deviceScaleFactor: 1 });
      const page = await context.newPage();
      let dialogs = 0;
      page.on('dialog', async (d) => { dialogs += 1; await d.dismiss(); });
      const violations = [];
      page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
      const response = await page.goto(url, { waitUntil: 'load' });
      const label = `${name}, JavaScript ${js ? 'on' : 'off'}`;
      expect(response && response.status() === 200, `${label}: the page answered ${response && response.status()}`);
      const banner = await page.locator('.banner h2').innerText();
      expect(banner.length > 0, `${label}: no overall status banner`);
      const body = await page.locator('body').innerText();
      // The incident's public title holds markup; it must show as text, and run nothing.
      expect(body.includes('<img src=x onerror=alert(1)>'), `${label}: the title with markup does not show as text`);
      expect(dialogs === 0, `${label}: a script in user text ran (${dialogs} dialogs)`);
      expect(await page.locator('img[src="x"]').count() === 0, `${label}: user text became an element`);
      expect(violations.length === 0, `${label}: CSP violations: ${violations.join(' | ')}`);
      // The stylesheet loaded (a same-origin file, allowed by the CSP): bars have height.
      const bar = await page.locator('.bars').first().boundingBox();
      expect(bar && bar.height >= 16, `${label}: uptime bars are not drawn (${JSON.stringify(bar)})`);
      expect(body.includes('Checkout API'), `${label}: components are missing`);
      expect(body.includes('uptime'), `${label}: no uptime figure`);
      // Nothing overflows sideways on a phone.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth).catch(() => 0);
      if (js) expect(overflow <= 1, `${label}: the page is ${overflow}px wider than the screen`);
      await page.screenshot({ path: `${out}/status-${name}-js-${js ? 'on' : 'off'}.png`, fullPage: true });
      await context.close();
    }
  }
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log(`ok: screenshots in ${out}`);
