// A screenshot of the live dashboard, for tests that want to keep a picture of the lab (the lab
// e2e takes one before and one after a plug pull). Opens the page with the token in the URL's
// fragment, waits for the first full picture (every list drawn), and saves a full-page PNG.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { gotoRetrying, launchChromium } from './browser.ts';

export interface ScreenshotOptions {
  /** The control plane's base URL, https://HOST:PORT. */
  url: string;
  /** The viewer token is enough (and draws no admin buttons). */
  token: string;
  /** Where to write the PNG, e.g. test-output/lab-before-plug-pull.png. */
  file: string;
  /** A CSS selector to wait for as well, e.g. `[data-node="board-2"][data-ready="NotReady"]`. */
  waitFor?: string;
  timeoutMs?: number;
  /** CSS pixels; wide enough for three cards a row and the side column. */
  width?: number;
}

export async function screenshotDashboard(o: ScreenshotOptions): Promise<void> {
  const browser = await launchChromium();
  try {
    // The lab's CA is made at first start; the test trusts it the way a student clicks through.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: o.width ?? 1600, height: 1000 } });
    const page = await context.newPage();
    const timeout = o.timeoutMs ?? 30_000;
    await gotoRetrying(page, `${o.url}/ui/#token=${encodeURIComponent(o.token)}`, timeout);
    await page.waitForSelector('body[data-picture="ready"]', { timeout });
    if (o.waitFor) await page.waitForSelector(o.waitFor, { timeout });
    mkdirSync(dirname(o.file), { recursive: true });
    await page.screenshot({ path: o.file, fullPage: true });
  } finally {
    await browser.close();
  }
}
