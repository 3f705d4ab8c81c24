// Services in the simulated lab, end to end: three boards provisioned with the real
// ansible/site.yml, a Deployment exposed with stock kubectl as a NodePort Service, the pod network
// across boards, cluster DNS, and a client that must see no failed request while a board's power
// plug, and then its cable, is pulled and put back. Results go to
// ${LABKUBE_TEST_OUTPUT:-test-output}/services/.
//
// Network safety: this machine sends only to the boards' addresses on the lab bridge (checked
// with `ip route get` first). Pod and service addresses are reached from inside the boards
// (`docker exec`), and the lab bridge forwards nothing out of the lab (scripts/lab.sh).
//
// Pods are not evicted in this lab (--default-toleration-seconds 600): the board whose plug is
// pulled keeps its web pod, which the endpoints list as not ready while the board is away and as
// ready again once it is back. The client has to get through on the other two replicas alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { labelKeys } from '../../agent/runtime/types.ts';
import { freePort } from '../support/process.ts';
import { isReady, isRunning, Lab, replicasServing, resources, until } from '../../scripts/lab/lab.ts';
import { assertRoutedToLab, countBetween, describeFailures, httpGetFrom, installLoadClient, startLoad, type LoadRun } from '../../scripts/lab/load.ts';
import { endpointsOf, execInPod, formatEndpoints, getService, servicesAgentArgs } from '../../scripts/lab/services.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const outDir = join(process.env.LABKUBE_TEST_OUTPUT ?? join(root, 'test-output'), 'services');
const boards = ['board1', 'board2', 'board3'];
const selector = 'app=web';
// Steady load on each side of an event: 40 requests at 20/s.
const steadyRequests = 40;

describe('Services in the simulated lab', { timeout: 25 * 60_000 }, () => {
  // A fixed name and state folder, so a run that was killed before cleaning up is cleaned up by
  // the next one; a subnet of its own, so it runs beside test/e2e/lab.test.ts (172.29.78.0/24).
  const lab = new Lab({
    name: 'labkube-e2e-svc', dir: join(tmpdir(), 'labkube-e2e-svc'), subnet: '172.29.80.0/24', port: 0,
    serverArgs: ['--default-toleration-seconds', '600'], agentArgs: servicesAgentArgs,
    // The boards run the bundle of the code under test (LABKUBE_E2E_PREBUILT=1: the dist/ there is).
    bundle: process.env.LABKUBE_E2E_PREBUILT !== '1',
    log: (l) => process.stderr.write(`  ${l}\n`),
  });
  const summary: string[] = [];
  const kubeconfig = () => join(lab.options.dir, 'server', 'kubeconfig');
  let nodePort = 0;
  let clusterIP = '';

  before(async () => {
    lab.options.port = await freePort();
    mkdirSync(outDir, { recursive: true });
    await lab.down();
    const t0 = Date.now();
    const recap = await lab.up(boards.length);
    summary.push(`lab up (3 boards, agent flags: ${servicesAgentArgs.join(' ') || 'none'}): ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    assert.deepEqual(recap.map((r) => [r.host, r.failed, r.unreachable]), boards.map((b) => [b, 0, 0]));
    await assertRoutedToLab(lab, boards.map((b) => lab.boardIp(b)));
    await installLoadClient(lab, 'board1');
  });

  after(async () => {
    for (const f of ['ansible.log', 'server.log']) {
      try { copyFileSync(join(lab.options.dir, f), join(outDir, f)); } catch { /* not written yet */ }
    }
    for (const b of boards) {
      await lab.exec(b, ['cat', '/var/log/labkube-agent.log'], 10_000)
        .then((log) => writeFileSync(join(outDir, `agent-${b}.log`), log), () => undefined);
    }
    await lab.down().catch((err: Error) => process.stderr.write(`lab down: ${err.message}\n`));
    process.stdout.write(`\n# services e2e summary\n${summary.join('\n')}\n\n`);
  });

  it('1. every node is Ready with a podCIDR of its own out of 10.42.0.0/16', async () => {
    const nodes = await until('three Ready nodes with a podCIDR', 90_000, async () => {
      const ns = await lab.nodes();
      return ns.length === 3 && ns.every((n) => isReady(n) && n.spec?.podCIDR) && ns;
    }, 250);
    const cidrs = nodes.map((n) => n.spec!.podCIDR!);
    for (const c of cidrs) assert.match(c, /^10\.42\.\d{1,3}\.0\/24$/);
    assert.equal(new Set(cidrs).size, 3, `distinct podCIDRs: ${cidrs.join(', ')}`);
    summary.push(`1. podCIDRs: ${nodes.map((n) => `${n.metadata.name} ${n.spec!.podCIDR}`).join(', ')}`);
  });

  it('2. kubectl expose deployment web --type=NodePort gives a ClusterIP and a nodePort', async () => {
    const env = { ...process.env, KUBECONFIG: kubeconfig() };
    await run(process.execPath, [join(root, 'bin/labctl.mjs'), '--kubeconfig', kubeconfig(),
      'create', 'deployment', 'web', '--image=nginx', '--replicas=3', '--port=80'], { timeout: 30_000 });
    const pods = await until('three replicas serving', 120_000, () => replicasServing(lab, selector, 3), 250);
    assert.deepEqual(pods.map((p) => p.spec?.nodeName).sort(), boards, 'one replica per board');
    const { stdout } = await run('kubectl', ['expose', 'deployment', 'web', '--type=NodePort', '--port', '80'], { env, timeout: 40_000 });
    assert.match(stdout, /service\/web exposed/);
    const svc = await getService(lab, 'web');
    clusterIP = svc.clusterIP ?? '';
    nodePort = svc.ports[0]?.nodePort ?? 0;
    assert.match(clusterIP, /^10\.43\.\d{1,3}\.\d{1,3}$/);
    assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);
    const { stdout: table } = await run('kubectl', ['get', 'svc', 'web'], { env, timeout: 40_000 });
    assert.match(table, new RegExp(`web\\s+NodePort\\s+${clusterIP.replace(/\./g, '\\.')}\\s+<none>\\s+80:${nodePort}/TCP`));
    await until('three ready endpoints', 60_000, async () => (await endpointsOf(lab, 'web')).filter((e) => e.ready).length === 3, 250);
    summary.push(`2. service web: ClusterIP ${clusterIP}, nodePort ${nodePort}; endpoints ${formatEndpoints(await endpointsOf(lab, 'web'))}`);
  });

  it('3. each board\'s NodePort serves nginx, from this machine over the lab bridge', async () => {
    await assertRoutedToLab(lab, boards.map((b) => lab.boardIp(b)));
    for (const b of boards) {
      const url = `http://${lab.boardIp(b)}:${nodePort}/`;
      await until(`${url} serving`, 60_000, async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
        return res.ok && (await res.text()).includes('Welcome to nginx');
      }, 250);
    }
    summary.push(`3. NodePort ${nodePort} serves nginx on ${boards.map((b) => lab.boardIp(b)).join(', ')}`);
  });

  it('4. a busybox pod on board1 fetches http://web by name and a pod IP on board3', async () => {
    await lab.client.create(resources.pods, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', labels: { app: 'client' } },
      spec: { nodeSelector: { 'kubernetes.io/hostname': 'board1' }, containers: [{ name: 'busybox', image: 'busybox', command: ['sleep', '3600'] }] },
    });
    await until('the client pod Running on board1', 90_000, async () => {
      const p = (await lab.pods('app=client'))[0];
      return p && isRunning(p) && p.spec?.nodeName === 'board1';
    }, 250);
    const inClient = (args: string[]) => execInPod(lab, 'board1', 'client', args, { timeoutMs: 15_000 });
    const byName = await until('wget http://web from the client pod', 60_000, async () => {
      const body = await inClient(['timeout', '5', 'wget', '-q', '-O', '-', 'http://web']);
      return body.includes('Welcome to nginx') && body;
    }, 500);
    assert.match(byName, /Welcome to nginx/);
    // Every name form reaches the Service through the pod's search path (as its resolver, not
    // busybox's nslookup, walks it: nslookup asks every search domain and forwards the rest to
    // the board's resolvers, which a lab without internet leaves unanswered); the full name
    // (with its root dot, so no search) answers with the ClusterIP.
    for (const name of ['web.default', 'web.default.svc', 'web.default.svc.cluster.local']) {
      assert.match(await inClient(['timeout', '5', 'wget', '-q', '-O', '-', `http://${name}/`]), /Welcome to nginx/, name);
    }
    assert.match(await inClient(['sh', '-c', 'nslookup -type=a web.default.svc.cluster.local. 2>&1; true']),
      new RegExp(`Address[^\\n]*\\b${clusterIP.replace(/\./g, '\\.')}\\b`));
    // Kubernetes' Service variables (the busybox image has no printenv applet: the shell reads them).
    assert.equal((await inClient(['sh', '-c', 'echo "$WEB_SERVICE_HOST"'])).trim(), clusterIP);
    assert.equal((await inClient(['sh', '-c', 'echo "$WEB_SERVICE_PORT"'])).trim(), '80');
    const onBoard3 = (await lab.pods(selector)).find((p) => isRunning(p) && p.spec?.nodeName === 'board3' && p.status?.podIP);
    assert.ok(onBoard3, 'a web pod on board3');
    const ip = onBoard3.status!.podIP!;
    await until(`wget http://${ip}/ (board3) from the client pod on board1`, 30_000, async () =>
      (await inClient(['timeout', '5', 'wget', '-q', '-O', '-', `http://${ip}/`])).includes('Welcome to nginx'), 500);
    // No NAT between pods: board3's nginx logged the client pod's own address.
    const client = (await lab.pods('app=client'))[0]!;
    const clientIp = client.status!.podIP!;
    assert.ok(clientIp.startsWith('10.42.'), `client pod IP ${clientIp} is a pod address`);
    await until(`board3's nginx logging the client pod's IP ${clientIp}`, 15_000, async () =>
      (await nginxLog('board3', onBoard3.metadata.name!)).includes(clientIp), 500);
    summary.push(`4. from a pod on board1 (${clientIp}): http://web (${clusterIP}) and the pod IP ${ip} on board3 answer, and board3 sees ${clientIp}; web.default.svc.cluster.local resolves`);
  });

  it('5. the two containers of one pod talk over localhost', async () => {
    await lab.client.create(resources.pods, 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pair', labels: { app: 'pair' } },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': 'board2' },
        containers: [{ name: 'nginx', image: 'nginx' }, { name: 'sidecar', image: 'busybox', command: ['sleep', '3600'] }],
      },
    });
    const pod = await until('the pair pod Running', 90_000, async () => {
      const p = (await lab.pods('app=pair'))[0];
      return p && isRunning(p) && p.status?.containerStatuses?.every((c) => c.ready) && p;
    }, 250);
    await until('wget http://localhost/ from the sidecar', 30_000, async () =>
      (await execInPod(lab, 'board2', 'pair', ['timeout', '5', 'wget', '-q', '-O', '-', 'http://localhost/'], { container: 'sidecar' })).includes('Welcome to nginx'), 500);
    summary.push(`5. pod pair (${pod.status?.podIP}): sidecar reached nginx on localhost`);
  });

  for (const mode of ['power', 'cable'] as const) {
    it(`${mode === 'power' ? 6 : 7}. 20 requests/s through board1's NodePort: none fails while board2's ${mode === 'power' ? 'power plug' : 'cable'} is pulled and put back`, async () => {
      const board = 'board2';
      const url = `http://${lab.boardIp('board1')}:${nodePort}/`;
      const victim = (await lab.pods(selector)).find((p) => isRunning(p) && p.spec?.nodeName === board);
      assert.ok(victim, `a web pod on ${board}`);
      const onBoard = async () => (await endpointsOf(lab, 'web')).filter((e) => e.nodeName === board);
      assert.ok((await onBoard()).some((e) => e.ready), `${board}'s endpoint ready before the pull: ${formatEndpoints(await endpointsOf(lab, 'web'))}`);
      const load = startLoad(lab, 'board1', { url, maxDurationS: 360 });
      const marks: Record<string, number> = {};
      let failure: unknown;
      try {
        await steady(load, 'before the pull');
        marks.pulled = Date.now();
        await lab.unplug(board, mode === 'cable');
        await until(`${board}'s endpoint not ready`, 60_000, async () => (await onBoard()).every((e) => !e.ready), 100);
        marks.notReady = Date.now();
        await steady(load, 'with the endpoint not ready');
        marks.replugged = Date.now();
        await lab.replug(board);
        await until(`${board} Ready`, 120_000, async () => isReady((await lab.nodes()).find((n) => n.metadata.name === board)!), 250);
        await until(`${board}'s pod listed ready again`, 120_000, async () => (await onBoard()).some((e) => e.ready), 100);
        marks.readyAgain = Date.now();
        await steady(load, 'after the endpoint is back');
      } catch (err) {
        failure = err;
        // The next steps need the board back.
        if (marks.pulled && !marks.replugged) await lab.replug(board).catch(() => undefined);
      }
      marks.stopped = Date.now();
      const r = await load.stop();
      const t0 = marks.pulled ?? r.lines[0]?.startMs ?? 0;
      writeFileSync(join(outDir, `load-${mode}.txt`), r.lines.map((l) => `${((l.startMs - t0) / 1000).toFixed(3)} ${l.latencyMs} ${l.ok ? 'ok' : 'fail'} ${l.detail}`).join('\n') + '\n');
      const phase = (a: string, b: string) => { const c = countBetween(r, marks[a] ?? Infinity, marks[b] ?? Infinity); return `${c.failed}/${c.requests}`; };
      const line = `${mode} pull of ${board}: ${r.failed}/${r.requests} failed (pull to not ready ${phase('pulled', 'notReady')}, ` +
        `not ready ${phase('notReady', 'replugged')}, replug to ready ${phase('replugged', 'readyAgain')}, after ${phase('readyAgain', 'stopped')}), ` +
        `max gap ${r.maxGapMs.toFixed(0)} ms, p99 ${r.p99Ms.toFixed(1)} ms; endpoint not ready ${(((marks.notReady ?? NaN) - t0) / 1000).toFixed(1)} s ` +
        `after the pull, ready ${(((marks.readyAgain ?? NaN) - (marks.replugged ?? NaN)) / 1000).toFixed(1)} s after the replug`;
      summary.push(`${mode === 'power' ? 6 : 7}. ${line}`);
      process.stdout.write(`${line}\n`);
      const failed = `failed requests (seconds after the pull): ${describeFailures(r, t0).slice(0, 40).join(', ')}`;
      if (failure) throw new Error(`${(failure as Error).message}\n${line}\n${failed}`, { cause: failure });
      assert.equal(r.failed, 0, failed);
    });
  }

  it('8. after both pulls: the pod network follows board2\'s new interface, and every NodePort serves', async () => {
    const iface = (await lab.exec('board2', ['ip', '-o', '-4', 'addr', 'show', 'to', lab.boardIp('board2')])).split(/\s+/)[1];
    const onBoard3 = (await lab.pods(selector)).find((p) => isRunning(p) && p.spec?.nodeName === 'board3' && p.status?.podIP)!;
    await until(`board2 (on ${iface}) reaching the pod IP ${onBoard3.status!.podIP} on board3`, 60_000, async () =>
      (await httpGetFrom(lab, 'board2', `http://${onBoard3.status!.podIP}/`)).includes('Welcome to nginx'), 500);
    assert.deepEqual((await endpointsOf(lab, 'web')).filter((e) => e.ready).map((e) => e.nodeName).sort(), boards);
    for (const b of boards) {
      await until(`${b}'s NodePort serving`, 30_000, async () => {
        const res = await fetch(`http://${lab.boardIp(b)}:${nodePort}/`, { signal: AbortSignal.timeout(3_000) });
        return res.ok && (await res.text()).includes('Welcome to nginx');
      }, 250);
    }
    summary.push(`8. board2 on ${iface} reaches board3's pods; endpoints ${formatEndpoints(await endpointsOf(lab, 'web'))}`);
  });

  it('9. ansible uninstall.yml on board3 leaves no container, bridge, route or iptables chain of labkube', async () => {
    await lab.sh(['uninstall', 'board3'], 300_000);
    const left = {
      containers: (await lab.exec('board3', ['docker', 'ps', '-aq', '--filter', 'label=io.labkube.node'])).trim(),
      network: (await lab.exec('board3', ['docker', 'network', 'ls', '-q', '--filter', 'name=^labkube$'])).trim(),
      routes: (await lab.exec('board3', ['ip', 'route', 'show', 'proto', '76'])).trim(),
      chains: (await lab.exec('board3', ['sh', '-c', 'iptables-save | grep -i labkube || true'])).trim(),
    };
    assert.deepEqual(left, { containers: '', network: '', routes: '', chains: '' });
    summary.push('9. uninstall.yml on board3: no labkube container, network, route or iptables rule left');
  });

  /** The last lines of a pod's nginx container log (the image logs its access log to stdout). */
  async function nginxLog(board: string, pod: string): Promise<string> {
    const filter = `--filter label=${labelKeys.pod}=${pod} --filter label=${labelKeys.container}=nginx`;
    return lab.exec(board, ['sh', '-c', `docker logs --tail 50 $(docker ps -q ${filter}) 2>&1`]);
  }

  /** Waits until the load client has had `steadyRequests` more successful requests. */
  async function steady(load: LoadRun, what: string): Promise<void> {
    const from = load.progress().ok;
    await until(`${steadyRequests} successful requests ${what}`, 30_000, async () => load.progress().ok >= from + steadyRequests, 100);
  }
});
