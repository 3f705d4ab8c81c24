// A pulled plug, end to end: a hollow node stops heartbeating; its node turns Unknown and tainted,
// its pods are evicted within grace + toleration + 2 s (those that tolerate longer stay), a
// replacement lands elsewhere; when heartbeats resume, the taint goes once and nothing flaps.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod, Taint } from '../../control-plane/api/core.ts';
import { isNotFound } from '../../control-plane/api/errors.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const events = resourceFor('', 'events')!;
const graceMs = 6_000; // the server's defaults: three missed 2 s heartbeats, then 2 s toleration
const tolerationS = 2;
const unreachable = 'node.kubernetes.io/unreachable';

function boundPod(name: string, nodeName: string, tolerations: Pod['spec']['tolerations'] = undefined): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } },
    spec: { nodeName, containers: [{ name: 'c', image: 'nginx:1.27' }], ...(tolerations && { tolerations }) },
  };
}

describe('node failure', () => {
  let server: TestServer;
  let hollow: HollowNode[];
  const abort = new AbortController();
  /** Every state of hollow-1 as the watch saw it: Ready status and whether it is tainted unreachable. */
  const seen: { ready: string; tainted: boolean }[] = [];

  before(async () => {
    server = await startTestServer({ nodeMonitorGracePeriodMs: graceMs, defaultTolerationSeconds: tolerationS });
    hollow = await startHollowNodes(server, 2);
    void server.client.watch(nodes, undefined, { fieldSelector: 'metadata.name=hollow-1' }, (e) => {
      const n = e.object as Node & KubeObject;
      const state = { ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '', tainted: (n.spec?.taints ?? []).some((t) => t.key === unreachable) };
      const last = seen[seen.length - 1];
      if (!last || last.ready !== state.ready || last.tainted !== state.tainted) seen.push(state);
    }, abort.signal).catch(() => {});
  });
  after(async () => {
    abort.abort();
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  const exists = async (name: string) => {
    try { await server.client.get(pods, 'default', name); return true; } catch (err) { if (isNotFound(err)) return false; throw err; }
  };

  test('pods on a node that stops heartbeating are evicted within grace + toleration + 2 s', async () => {
    await server.client.create(pods, 'default', boundPod('victim', 'hollow-1'));
    await server.client.create(pods, 'default', boundPod('patient', 'hollow-1', [{ key: unreachable, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 600 }]));
    await server.client.create(pods, 'default', boundPod('stubborn', 'hollow-1', [{ key: unreachable, operator: 'Exists', effect: 'NoExecute' }]));
    await eventually(async () => (await server.client.get<Pod & KubeObject>(pods, 'default', 'victim')).status?.phase === 'Running', 60_000, 'victim running');

    const pulledAt = Date.now();
    hollow[0]!.stopHeartbeats();

    const taint = await eventually(async () => {
      const n = await server.client.get<Node & KubeObject>(nodes, undefined, 'hollow-1');
      return n.spec?.taints?.find((t: Taint) => t.key === unreachable);
    }, graceMs + 4_000, 'unreachable taint');
    assert.equal(taint.effect, 'NoExecute');
    assert.ok(taint.timeAdded, 'the taint records when it was added');
    const node = await server.client.get<Node & KubeObject>(nodes, undefined, 'hollow-1');
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'Unknown');
    assert.equal(ready?.reason, 'NodeStatusUnknown');
    assert.equal(ready?.message, 'Kubelet stopped posting node status.');

    await eventually(async () => !(await exists('victim')), graceMs + tolerationS * 1000 + 4_000, 'victim evicted');
    const elapsed = Date.now() - pulledAt;
    assert.ok(elapsed <= graceMs + tolerationS * 1000 + 2_000, `evicted after ${elapsed} ms`);

    const eviction = (await server.client.list(events, 'default', { fieldSelector: 'involvedObject.name=victim,reason=TaintManagerEviction' })).items[0];
    assert.equal(eviction?.message, 'Marking for deletion Pod default/victim');
    const notReady = (await server.client.list(events, 'default', { fieldSelector: 'involvedObject.name=hollow-1,reason=NodeNotReady' })).items;
    assert.equal(notReady.length, 1);
    assert.ok(await exists('patient'), "a pod's own tolerationSeconds wins over the default");
    assert.ok(await exists('stubborn'), 'a pod tolerating the taint without tolerationSeconds stays');
  });

  test('a replacement for the evicted pod is scheduled onto the healthy node', async () => {
    await server.client.create(pods, 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'victim-2' }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } });
    const nodeName = await eventually(async () => (await server.client.get<Pod & KubeObject>(pods, 'default', 'victim-2')).spec.nodeName, 60_000, 'replacement bound');
    assert.equal(nodeName, 'hollow-2');
  });

  test('when heartbeats resume the taint is removed once, Ready is True and nothing flaps', async () => {
    hollow[0]!.resumeHeartbeats();
    await eventually(async () => {
      const n = await server.client.get<Node & KubeObject>(nodes, undefined, 'hollow-1');
      return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && !(n.spec?.taints ?? []).some((t) => t.key === unreachable);
    }, 60_000, 'node ready and untainted');
    await new Promise((r) => setTimeout(r, graceMs + 1_000)); // a full grace period of steady heartbeats
    const tainted = seen.map((s) => s.tainted);
    assert.deepEqual(tainted.filter((t, i) => i === 0 || t !== tainted[i - 1]), [false, true, false], JSON.stringify(seen));
    const readies = seen.map((s) => s.ready).filter((r, i, all) => i === 0 || r !== all[i - 1]);
    assert.deepEqual(readies, ['True', 'Unknown', 'True']);
    const evictions = (await server.client.list(events, 'default', { fieldSelector: 'reason=TaintManagerEviction' })).items;
    assert.equal(evictions.length, 1, 'only the victim was evicted');
    assert.equal(evictions[0]!.count, 1);
    const readyEvents = (await server.client.list(events, 'default', { fieldSelector: 'involvedObject.name=hollow-1,reason=NodeReady' })).items;
    assert.equal(readyEvents.length, 1);
    assert.equal(readyEvents[0]!.count, 1);
    assert.ok(await exists('patient') && await exists('stubborn'));
  });
});
