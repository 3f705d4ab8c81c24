// The dashboard in real headless Chromium against a real control plane with hollow nodes:
// viewer and admin logins, the grid, live changes, a wrong token, and a control-plane restart.
// Screenshots go to test-output/dashboard-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { gotoRetrying, launchChromium } from './browser.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const deployments = resourceFor('apps', 'deployments')!;
const shots = 'test-output';

function deployment(name: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'nginx:latest' }] } },
    },
  };
}

describe('the dashboard in Chromium', () => {
  let server: TestServer;
  let hollow: HollowNode[];
  let browser: Browser;
  let restartedDataDir: string | undefined;

  const runningPods = async (app: string) => (await server.client.list(pods, 'default', { labelSelector: `app=${app}` })).items
    .filter((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running' && !p.metadata.deletionTimestamp);

  before(async () => {
    server = await startTestServer();
    hollow = await startHollowNodes(server, 3, { name: 'board' });
    await server.client.create(deployments, 'default', deployment('web', 4));
    await eventually(async () => (await runningPods('web')).length === 4, 60_000, 'four web pods Running');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await Promise.all((hollow ?? []).map((n) => n.stop()));
    await server?.stop();
    if (restartedDataDir) rmSync(restartedDataDir, { recursive: true, force: true });
  });

  async function open(token: string): Promise<Page> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1600, height: 1000 } });
    // Sized for a loaded 2-core machine; the 2 s check below is timed inside the page instead.
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    await gotoRetrying(page, `${server.url}/ui/#token=${token}`);
    return page;
  }

  /** Waits for the first full picture; on a timeout, says which lists had arrived and what the page showed. */
  const drawn = (page: Page) => page.waitForSelector('body[data-picture="ready"]').catch(async (err: unknown) => {
    const state = await page.evaluate(`[document.querySelector('.app')?.dataset.lists, document.querySelector('.app')?.dataset.connection, document.body.innerText.slice(0, 200)]`);
    throw new Error(`no full picture: lists in, connection, text = ${JSON.stringify(state)}`, { cause: err });
  });

  test('the viewer token logs in, the admin buttons are absent, and the token leaves the address bar', async () => {
    const page = await open(server.viewerToken);
    await drawn(page);
    assert.equal(await page.locator('[data-role="role"]').textContent(), 'Viewer (read-only)');
    assert.equal(await page.locator('button.admin').count(), 0);
    assert.equal(new URL(page.url()).hash, '', 'the token is removed from the URL');
    await page.screenshot({ path: `${shots}/dashboard-viewer.png`, fullPage: true });
    await page.context().close();
  });

  test('the grid shows every node and every pod, each on its board', async () => {
    const page = await open(server.viewerToken);
    await drawn(page);
    const list = (await server.client.list(pods)).items;
    assert.deepEqual(await page.locator('article[data-node]').evaluateAll((els) => els.map((e) => e.getAttribute('data-node'))),
      ['board-1', 'board-2', 'board-3']);
    await page.waitForFunction((n) => document.querySelectorAll('button[data-pod]').length === n, list.length);
    for (const pod of list) {
      const node = (pod.spec as { nodeName: string }).nodeName;
      assert.equal(await page.locator(`article[data-node="${node}"] button[data-pod="default/${pod.metadata.name}"]`).count(), 1,
        `${pod.metadata.name} is drawn in the card of ${node}`);
    }
    assert.match(await page.locator('tr[data-deployment="web"]').textContent() ?? '', /4\/4/);
    await page.context().close();
  });

  test('a node marked NotReady changes its card within 2 s', async () => {
    const page = await open(server.viewerToken);
    await drawn(page);
    // The page notes the moment the card changes: Playwright's own polling would add its latency
    // (seconds on a loaded machine) to the page's.
    await page.evaluate(() => {
      const card = document.querySelector('article[data-node="board-1"]')!;
      new MutationObserver(() => {
        if (card.getAttribute('data-ready') === 'NotReady') (window as unknown as { changedAt?: number }).changedAt ??= Date.now();
      }).observe(card, { attributes: true });
    });
    // A pulled plug as the API sees it: no more heartbeats, and Ready turns False.
    hollow[0]!.stopHeartbeats();
    const node = await server.client.get(nodes, undefined, 'board-1');
    const status = node.status as { conditions: { type: string; status: string; reason?: string; lastTransitionTime?: string }[] };
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    status.conditions = status.conditions.map((c) => (c.type === 'Ready' ? { ...c, status: 'False', reason: 'NodeStatusUnknown', lastTransitionTime: now } : c));
    const writing = Date.now();
    await server.client.update(nodes, node, 'status');
    await page.waitForSelector('article[data-node="board-1"][data-ready="NotReady"]');
    const changedAt = await page.evaluate(() => (window as unknown as { changedAt?: number }).changedAt);
    assert.ok(changedAt !== undefined);
    const ms = changedAt - writing;
    console.log(`# the card changed ${ms} ms after the status write began`);
    assert.ok(ms < 2_000, `card changed after ${ms} ms`);
    assert.match(await page.locator('article[data-node="board-1"] [data-role="ready"]').textContent() ?? '', /✖ NotReady for \d+ s/);
    await page.screenshot({ path: `${shots}/dashboard-not-ready.png`, fullPage: true });
    hollow[0]!.resumeHeartbeats();
    await page.waitForSelector('article[data-node="board-1"][data-ready="Ready"]');
    await page.context().close();
  });

  test('scaling a deployment makes its pods appear', async () => {
    const page = await open(server.viewerToken);
    await drawn(page);
    await server.client.patch(deployments, 'default', 'web', { spec: { replicas: 9 } });
    await page.waitForFunction(() => document.querySelectorAll('button[data-pod^="default/web-"][data-state="Running"]').length === 9,
      undefined, { timeout: 60_000 });
    const notTerminating = await page.locator('button[data-pod^="default/web-"]:not([data-state="Terminating"])').count();
    assert.equal(notTerminating, 9);
    await page.screenshot({ path: `${shots}/dashboard-scaled.png`, fullPage: true });
    await page.context().close();
  });

  test('a wrong token gets a clear error and the login form', async () => {
    const page = await open('not-a-real-token');
    const error = page.locator('[data-role="login-error"]');
    await error.waitFor();
    assert.match(await error.textContent() ?? '', /refused this token \(401 Unauthorized\)/);
    assert.equal(await page.locator('input[type="password"]').count(), 1);
    await page.screenshot({ path: `${shots}/dashboard-wrong-token.png` });
    // The form works too: the viewer token typed in opens the dashboard.
    await page.fill('input[type="password"]', server.viewerToken);
    await page.click('button[type="submit"]');
    await drawn(page);
    await page.context().close();
  });

  test('the admin sees Cordon, Uncordon and Drain, and they write', async () => {
    const page = await open(server.adminToken);
    await drawn(page);
    assert.equal(await page.locator('[data-role="role"]').textContent(), 'Admin');
    assert.equal(await page.locator('button[data-action="cordon"]').count(), 3);
    await page.click('article[data-node="board-2"] button[data-action="cordon"]');
    await page.locator('[data-role="message"]').waitFor();
    assert.equal(await page.locator('[data-role="message"]').textContent(), 'board-2 cordoned✕');
    await page.waitForSelector('article[data-node="board-2"] [data-role="cordoned"]');
    const cordoned = await server.client.get(nodes, undefined, 'board-2');
    assert.equal((cordoned.spec as { unschedulable?: boolean }).unschedulable, true);

    // Drain asks first, then cordons board-3 and moves its pods to the one board left.
    await page.click('article[data-node="board-2"] button[data-action="uncordon"]');
    await page.waitForSelector('article[data-node="board-2"] button[data-action="cordon"]');
    await page.click('article[data-node="board-3"] button[data-action="drain"]');
    await page.click('button[data-action="confirm-drain"]');
    await page.locator('[data-role="message"]').filter({ hasText: /board-3 drained/ }).waitFor();
    await eventually(async () => {
      const onBoard3 = (await runningPods('web')).filter((p) => (p.spec as { nodeName?: string }).nodeName === 'board-3');
      return onBoard3.length === 0 && (await runningPods('web')).length === 9;
    }, 60_000, 'web pods moved off board-3');
    await page.waitForFunction(() => document.querySelectorAll('article[data-node="board-3"] button[data-pod]').length === 0, undefined);
    await page.screenshot({ path: `${shots}/dashboard-admin-drained.png`, fullPage: true });
    await page.context().close();
  });

  test('a pod opens its log panel', async () => {
    const page = await open(server.adminToken);
    await drawn(page);
    const pod = page.locator('button[data-pod^="default/web-"]').first();
    const key = await pod.getAttribute('data-pod');
    await pod.click();
    const panel = page.locator(`aside[data-logs="${key}"]`);
    await panel.waitFor();
    // Hollow nodes run no containers, so the API has no agent to fetch logs from: the panel says so.
    await panel.locator('.error').waitFor();
    assert.match(await panel.locator('.error').textContent() ?? '', /Logs unavailable: \S/);
    await page.click('aside.logs button[aria-label="Close the logs"]');
    await panel.waitFor({ state: 'detached' });
    await page.context().close();
  });

  test('after a control-plane restart the page says so and reconnects by itself', async () => {
    const page = await open(server.viewerToken);
    await drawn(page);
    const port = Number(new URL(server.url).port);
    const { dataDir } = server;
    // Stopped, not removed: the same data directory (tokens, CA, state) comes back.
    server.client.close();
    await server.close();
    await page.locator('[data-role="banner"]').filter({ hasText: /Lost the control plane/ }).waitFor();
    await page.screenshot({ path: `${shots}/dashboard-lost.png` });
    server = await startTestServer({ dataDir, port });
    restartedDataDir = dataDir;
    await page.waitForSelector('[data-connection="live"]');
    // Still live: a new deployment's pods appear without a reload.
    await server.client.create(deployments, 'default', deployment('after', 2));
    await page.waitForFunction(() => document.querySelectorAll('button[data-pod^="default/after-"]').length === 2, undefined, { timeout: 60_000 });
    await page.context().close();
  });
});
