// Headless Chromium for the dashboard's tests and bench: Debian's `chromium` package driven by
// playwright-core (no browser download: the workplace cannot fetch one, and a lab host has apt).
// Installs the package on first use when it is missing and we are root, under a lock so parallel
// test files install it once.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const found = () => [process.env.LABKUBE_CHROMIUM, ...candidates].find((p): p is string => !!p && existsSync(p));
  let path = found();
  if (!path && process.getuid?.() === 0) {
    // apt-get update only when the package lists are too old to know the package.
    const script = 'apt-cache show chromium >/dev/null 2>&1 || apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium';
    execFileSync('flock', ['/tmp/labkube-chromium.lock', 'bash', '-c', script], { stdio: 'inherit', timeout: 600_000 });
    path = found();
  }
  if (!path) throw new Error('Chromium not found: install Debian\'s package (apt-get install -y chromium) or set LABKUBE_CHROMIUM');
  return path;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // --no-sandbox: tests run as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    timeout: 60_000,
  });
}

/**
 * Navigates and waits for the page's script to run (the dashboard or its login form is drawn),
 * navigating again when Chromium aborted the page or its script with ERR_NETWORK_CHANGED: on a
 * machine where labs come and go, network interfaces appear and vanish, and Chromium abandons
 * requests in flight when they do. Anything else fails at once.
 */
export async function gotoRetrying(page: Page, url: string, timeout = 60_000): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let networkChanged = false;
    const onFailed = (r: { failure(): { errorText: string } | null }) => { if (/ERR_NETWORK_CHANGED/.test(r.failure()?.errorText ?? '')) networkChanged = true; };
    page.on('requestfailed', onFailed);
    try {
      await page.goto(url, { waitUntil: 'commit', timeout });
      await page.waitForSelector('#root .app, #root .login', { timeout: Math.min(timeout, 30_000) });
      return;
    } catch (err) {
      if (attempt >= 5 || !(networkChanged || /ERR_NETWORK_CHANGED/.test(String(err)))) throw err;
    } finally {
      page.off('requestfailed', onFailed);
    }
  }
}
