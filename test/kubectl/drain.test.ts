// kubectl drain evicts, and a PodDisruptionBudget holds it back: blocked while the budget
// allows no disruption (429, kubectl retries), through once the budget allows it. Hollow nodes
// run the pods, so the replacement of an evicted pod becomes Ready elsewhere as on a real board.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import type { PodDisruptionBudget } from '../../control-plane/api/policy.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { budgetStatus, type BudgetObject } from '../../control-plane/controllers/disruption.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import { pods } from '../cli/fixtures.ts';
import { runCommand } from '../cli/run.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

const budgets = resourceFor('policy', 'poddisruptionbudgets')!;
type Budget = PodDisruptionBudget & KubeObject;

const readyPod = (name: string, ready = true, owner?: string): PodObject => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'web' }, ...(owner && { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: 'u', controller: true }] }) },
  spec: { containers: [{ name: 'c', image: 'nginx' }] },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
}) as PodObject;

const budget = (spec: PodDisruptionBudget['spec'], disruptedPods?: Record<string, string>): BudgetObject =>
  ({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'b', namespace: 'default', generation: 1 }, spec: { selector: { matchLabels: { app: 'web' } }, ...spec }, ...(disruptedPods && { status: { disruptedPods } }) }) as BudgetObject;

describe('PodDisruptionBudget status', () => {
  const now = new Date('2026-12-02T10:00:00Z');
  test('minAvailable as a count: allowed is the healthy pods above it', () => {
    const { status } = budgetStatus(budget({ minAvailable: 2 }), [readyPod('a'), readyPod('b'), readyPod('c'), readyPod('d', false)], () => undefined, now);
    assert.deepEqual([status.expectedPods, status.currentHealthy, status.desiredHealthy, status.disruptionsAllowed], [4, 3, 2, 1]);
  });

  test('maxUnavailable counts the replicas the controller wants, so a missing pod is already a disruption', () => {
    const { status } = budgetStatus(budget({ maxUnavailable: 1 }), [readyPod('a', true, 'rs'), readyPod('b', true, 'rs')], () => 3, now);
    assert.deepEqual([status.expectedPods, status.desiredHealthy, status.disruptionsAllowed], [3, 2, 0]);
  });

  test('a percentage rounds up, as Kubernetes does', () => {
    const { status } = budgetStatus(budget({ minAvailable: '50%' }), [readyPod('a', true, 'rs'), readyPod('b', true, 'rs'), readyPod('c', true, 'rs')], () => 3, now);
    assert.deepEqual([status.desiredHealthy, status.disruptionsAllowed], [2, 1]);
  });

  test('a just-evicted pod is not healthy until its record expires, and then looked at again', () => {
    const at = new Date(now.getTime() - 60_000).toISOString();
    const { status, recheckMs } = budgetStatus(budget({ minAvailable: 1 }, { a: at }), [readyPod('a'), readyPod('b')], () => undefined, now);
    assert.deepEqual([status.currentHealthy, status.disruptionsAllowed], [1, 0]);
    assert.deepEqual(status.disruptedPods, { a: at });
    assert.equal(recheckMs, 60_000);
  });
});

describe('kubectl drain with a PodDisruptionBudget', { timeout: 240_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  // The newest kubectl: since 1.32 it sends its created objects and evictions as protobuf.
  const kubectl = (args: string[], input?: string) => runCommand('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', args,
    { env: { KUBECONFIG: server.kubeconfigPath }, timeoutMs: 120_000, ...(input !== undefined && { input }) });

  before(async () => {
    server = await startTestServer();
    hollow = await startHollowNodes(server, 2, { name: 'bench' });
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  const podsOf = async () => (await server.client.list<PodObject>(pods, 'default', { labelSelector: 'app=web' })).items;
  const readyCount = async () => (await podsOf()).filter((p) => !p.metadata.deletionTimestamp &&
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;

  test('a drain is held back while the budget allows no disruption, and goes through when it does', async () => {
    // Both replicas on bench-1: bench-2 cordoned while they are scheduled.
    assert.equal((await kubectl(['cordon', 'bench-2'])).code, 0);
    const made = await kubectl(['create', 'deployment', 'web', '--image=nginx', '--replicas=2']);
    assert.equal(made.code, 0, made.stderr);
    await eventually(async () => (await readyCount()) === 2, 60_000, 'two ready replicas');
    assert.equal((await kubectl(['uncordon', 'bench-2'])).code, 0);
    const pdb = await kubectl(['create', 'poddisruptionbudget', 'web', '--selector=app=web', '--min-available=2']);
    assert.equal(pdb.code, 0, pdb.stderr);
    await eventually(async () => (await server.client.get<Budget>(budgets, 'default', 'web')).status?.observedGeneration === 1, 30_000, 'the budget processed');
    const listed = await kubectl(['get', 'pdb', 'web']);
    assert.match(listed.stdout, /^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\nweb\s+2\s+N\/A\s+0\s+/);

    const blocked = await kubectl(['drain', 'bench-1', '--timeout=12s']);
    assert.notEqual(blocked.code, 0, 'the drain must not finish');
    assert.match(blocked.stderr + blocked.stdout, /Cannot evict pod as it would violate the pod's disruption budget/);
    assert.equal((await podsOf()).filter((p) => !p.metadata.deletionTimestamp).length, 2, 'no pod was deleted');

    // Allow one disruption at a time: each eviction waits for the replacement on bench-2 to be Ready.
    await server.client.patch(budgets, 'default', 'web', { spec: { minAvailable: 1 } });
    const drained = await kubectl(['drain', 'bench-1', '--timeout=150s']);
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /evicting pod default\/web-/);
    assert.match(drained.stdout, /node\/bench-1 drained/);
    await eventually(async () => {
      const live = (await podsOf()).filter((p) => !p.metadata.deletionTimestamp);
      return live.length === 2 && live.every((p) => p.spec.nodeName === 'bench-2') && (await readyCount()) === 2;
    }, 60_000, 'both replicas Ready on bench-2');
  });

  test('an eviction the budget forbids is a 429 with the budget named, and deletes nothing', async () => {
    await server.client.patch(budgets, 'default', 'web', { spec: { minAvailable: 2 } });
    await eventually(async () => (await server.client.get<Budget>(budgets, 'default', 'web')).status?.disruptionsAllowed === 0, 30_000, 'no disruption allowed');
    const [pod] = await podsOf();
    await assert.rejects(server.client.request('POST', `/api/v1/namespaces/default/pods/${pod!.metadata.name}/eviction`,
      { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod!.metadata.name, namespace: 'default' } }),
    (err: Error & { code?: number; details?: { causes?: { reason: string; message: string }[] } }) =>
      err.code === 429 && /needs 2 healthy pods and has 2 currently/.test(err.details?.causes?.[0]?.message ?? ''));
    assert.ok(!(await server.client.get<PodObject>(pods, 'default', pod!.metadata.name!)).metadata.deletionTimestamp);
  });
});
