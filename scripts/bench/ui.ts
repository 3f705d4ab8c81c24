// `npm run bench:ui`: the dashboard in headless Chromium on a control plane with 50 hollow boards
// and 1,500 pods. Measures what issue 13 asks of it:
//   bytes             the first load's static assets (HTML, script, stylesheet) over the wire
//   first_picture_ms  from navigation to every board and pod drawn (the page's own mark)
//   frame_p99_ms      the 99th percentile of frame intervals while 100 pod changes a second stream in
// and prints them as the last line: `bytes=... first_picture_ms=... frame_p99_ms=...`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { KubeClient } from '../../control-plane/client/client.ts';
import { startServer } from '../../control-plane/server.ts';
import { startHollowNodes } from '../../test/support/hollow-node.ts';
import { gotoRetrying, launchChromium } from '../../test/ui/browser.ts';

const boards = Number(process.env.BENCH_BOARDS ?? 50);
const podCount = Number(process.env.BENCH_PODS ?? 1500);
const eventsPerSecond = 100;
const loadSeconds = 10;
const pods = resourceFor('', 'pods')!;

const log = (msg: string) => process.stderr.write(`bench:ui: ${msg}\n`);
const percentile = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN; };

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'labkube-bench-ui-'));
// Hollow boards renew every 10 s, so the grace period is raised to match (50 boards at the
// default 2 s would be the bench's own load, not the dashboard's), and a late renewal on a busy
// machine must not evict pods in the middle of the measurement.
const server = await startServer({
  dataDir, host: '127.0.0.1', port: 0, logger: pino({ level: 'warn' }), nodeMonitorGracePeriodMs: 60_000, defaultTolerationSeconds: 3600,
});
const admin = new KubeClient({ server: server.url, token: server.adminToken, ca: server.caPem });
const hollow = await startHollowNodes(server, boards, { name: 'board', leaseIntervalMs: 10_000, pods: '250' });
log(`${boards} hollow boards joined`);

try {
  // Pods bound at creation (as a DaemonSet's are), so the bench does not wait on the scheduler.
  const names = Array.from({ length: podCount }, (_, i) => ({ name: `app-${i % 30}-${String(i).padStart(4, '0')}`, node: `board-${(i % boards) + 1}`, app: `app-${i % 30}` }));
  await inBatches(names, 25, (p) => admin.create(pods, 'default', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, labels: { app: p.app } },
    spec: { nodeName: p.node, containers: [{ name: 'main', image: 'nginx:latest' }] },
  } as KubeObject));
  await until(`${podCount} pods Running`, async () =>
    (await admin.list(pods, 'default')).items.filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running').length === podCount, 600_000);
  log(`${podCount} pods Running`);

  const browser = await launchChromium();
  try {
    // Run from source, the server builds the page with esbuild on its first request (the bundled
    // server has it ready at start): a throwaway tab pays that once, so the figure is the page's.
    const warm = await browser.newContext({ ignoreHTTPSErrors: true });
    await gotoRetrying(await warm.newPage(), `${server.url}/ui/`, 120_000);
    await warm.close();
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1920, height: 1080 } });
    const page = await context.newPage();
    const assetBytes: number[] = [];
    let apiBytes = 0;
    page.on('requestfinished', (request) => void request.sizes().then((s) => {
      const size = s.responseBodySize + s.responseHeadersSize;
      // The page's files; /ui/lists/ is the dashboard's cut of the pods list, an API read.
      const path = new URL(request.url()).pathname;
      if (path.startsWith('/ui/') && !path.startsWith('/ui/lists/')) assetBytes.push(size); else apiBytes += size;
    }));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    // The server and the 50 hollow agents share this process's event loop: how long it stalled
    // while the page loaded says whether the server was slow to answer or merely busy.
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    // BENCH_TRACE=FILE: a Chromium trace of the first load, for chrome://tracing or Perfetto.
    if (process.env.BENCH_TRACE) await browser.startTracing(page, { path: process.env.BENCH_TRACE, screenshots: false });
    await gotoRetrying(page, `${server.url}/ui/#token=${server.viewerToken}`, 120_000);
    await page.waitForSelector('body[data-picture="ready"]', { timeout: 120_000 });
    if (process.env.BENCH_TRACE) await browser.stopTracing();
    loopDelay.disable();
    log(`server event loop while loading: delay p50 ${(loopDelay.percentile(50) / 1e6).toFixed(0)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`);
    // The renderer's own account of the first picture: script, style and layout, and the rest.
    const { metrics } = await cdp.send('Performance.getMetrics');
    log(`renderer until the first picture: ${metrics.filter((m) => /^(Script|RecalcStyle|Layout|TaskOther)Duration$|^Nodes$/.test(m.name))
      .map((m) => (m.name === 'Nodes' ? `${m.value} DOM nodes` : `${m.name.replace('Duration', '')} ${Math.round(m.value * 1000)} ms`)).join(', ')}`);
    const [listsIn, firstPicture] = await page.evaluate(`['labkube:lists-in', 'labkube:first-picture'].map((m) => performance.getEntriesByName(m)[0].startTime)`) as number[] as [number, number];
    const drawn = await page.evaluate(`[document.querySelectorAll('article[data-node]').length, document.querySelectorAll('button[data-pod]').length]`) as number[];
    const listed = (await admin.list(pods)).items.length;
    if (drawn[0] !== boards || drawn[1] !== listed) throw new Error(`first picture had ${drawn[0]} boards and ${drawn[1]} pods; the API has ${listed}`);
    // Where the time went, from navigation: the page itself, the marks it sets (its script
    // running, each list in and indexed, the picture), and each request.
    const navigation = await page.evaluate(`(() => { const n = performance.getEntriesByType('navigation')[0]; const s = performance.getEntriesByName('labkube:script-start')[0];
      return 'page ' + [n.requestStart, n.responseStart, n.responseEnd, n.domInteractive].map(Math.round).join('/') + ' (request/first byte/done/interactive), script ran at ' + (s ? Math.round(s.startTime) : '?'); })()`) as string;
    log(navigation);
    log(`marks: ${(await page.evaluate(`performance.getEntriesByType('mark').map((m) => m.name + ' ' + Math.round(m.startTime)).join(', ')`)) as string}`);
    // Each request until the first picture: its start, its connection's setup (equal to the
    // start for a connection already open), when it was sent (later: it waited for a free
    // connection), its first byte and its last.
    const timings = await page.evaluate(`performance.getEntriesByType('resource').filter((e) => e.startTime <= performance.getEntriesByName('labkube:first-picture')[0].startTime)
      .map((e) => new URL(e.name).pathname + ' ' + [e.startTime, e.connectStart, e.connectEnd, e.requestStart, e.responseStart, e.responseEnd].map(Math.round).join('/'))`) as string[];
    log(`requests (start/connect/connected/sent/first byte/done ms): ${timings.join(', ')}`);
    const bytes = assetBytes.reduce((a, b) => a + b, 0);
    log(`first load: ${bytes} bytes of assets in ${assetBytes.length} files (+${apiBytes} bytes of API lists), first picture ${Math.round(firstPicture)} ms (lists in at ${Math.round(listsIn)} ms, drawn ${Math.round(firstPicture - listsIn)} ms later)`);

    // Frame intervals, recorded by the page itself while the changes stream in. (A string: tsx
    // would wrap a function's body in helpers that do not exist in the page.)
    await page.evaluate(`(() => {
      window.frames_ = []; window.recording = true;
      let last = performance.now();
      const frame = (t) => { window.frames_.push(t - last); last = t; if (window.recording) requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
    })()`);
    const started = Date.now();
    let sent = 0;
    // Bounded: eventsPerSecond × loadSeconds changes, paced per 100 ms slot.
    for (let slot = 0; slot < loadSeconds * 10; slot++) {
      const due = started + slot * 100;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      await Promise.all(Array.from({ length: eventsPerSecond / 10 }, () => {
        const p = names[Math.floor(Math.random() * names.length)]!;
        sent++;
        return admin.patch(pods, 'default', p.name, { metadata: { annotations: { 'bench.labkube.io/tick': String(sent) } } });
      }));
    }
    const seconds = (Date.now() - started) / 1000;
    const frames = await page.evaluate('(() => { window.recording = false; return window.frames_.slice(1); })()') as number[];
    const p99 = percentile(frames, 99);
    log(`${sent} pod changes in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s); ${frames.length} frames, p50 ${percentile(frames, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    console.log(`bytes=${bytes} first_picture_ms=${Math.round(firstPicture)} frame_p99_ms=${p99.toFixed(1)}`);
  } finally {
    await browser.close();
  }
} finally {
  await Promise.all(hollow.map((h) => h.stop()));
  admin.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
