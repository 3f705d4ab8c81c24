// The failover timeline and the pod states the dashboard draws: pure functions over API objects.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { boardModelAnnotation as apiBoardModel, cpuTemperatureAnnotation as apiTemperature } from '../../control-plane/api/node-usage.ts';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { boardModelAnnotation, cpuTemperatureAnnotation, podState, restartsOf, waitingReason, workloadOf, type NodeObject, type PodObject } from '../../control-plane/ui/derive.ts';
import { dashboardPod } from '../../control-plane/ui/pod-projection.ts';
import { failoverTimelines, gaps, type EventObject } from '../../control-plane/ui/failover.ts';

const t = (s: number) => new Date(Date.UTC(2026, 11, 2, 8, 0, s)).toISOString().replace('.000Z', 'Z');
const at = (s: number) => Date.parse(t(s));

function node(name: string, ready: 'True' | 'False' | 'Unknown', since: number): NodeObject {
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name },
    status: { conditions: [{ type: 'Ready', status: ready, lastTransitionTime: t(since), lastHeartbeatTime: t(0) }] },
  } as NodeObject;
}

function pod(name: string, nodeName: string | undefined, created: number, scheduled?: number, ready?: number): PodObject {
  const conditions = [
    ...(scheduled !== undefined ? [{ type: 'PodScheduled', status: 'True' as const, lastTransitionTime: t(scheduled) }] : []),
    ...(ready !== undefined ? [{ type: 'Ready', status: 'True' as const, lastTransitionTime: t(ready) }] : []),
  ];
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', creationTimestamp: t(created), labels: { 'pod-template-hash': 'abc12' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc12', uid: 'rs', controller: true }] },
    spec: { containers: [{ name: 'main', image: 'nginx' }], ...(nodeName && { nodeName }) },
    status: { phase: ready !== undefined ? 'Running' : 'Pending', conditions },
  } as PodObject;
}

function event(reason: string, kind: string, name: string, when: number): EventObject {
  return {
    apiVersion: 'v1', kind: 'Event', metadata: { name: `${name}.${reason}`, namespace: 'default' },
    reason, involvedObject: { kind, name, ...(kind === 'Pod' && { namespace: 'default' }) }, firstTimestamp: t(when), lastTimestamp: t(when),
  };
}

describe('failover timeline', () => {
  test('follows a pulled plug from the last heartbeat to the replacements Running, with the seconds between', () => {
    const [outage] = failoverTimelines({
      nodes: [node('pi-1', 'Unknown', 7), node('pi-2', 'True', 0)],
      // web-abc12-old3 ran on pi-2 all along: not a replacement.
      pods: [pod('web-abc12-old3', 'pi-2', 0, 0, 1), pod('web-abc12-new1', 'pi-2', 10, 11, 14), pod('web-abc12-new2', 'pi-2', 10, 11, 15)],
      events: [event('NodeNotReady', 'Node', 'pi-1', 7), event('TaintManagerEviction', 'Pod', 'web-abc12-old1', 9),
        event('TaintManagerEviction', 'Pod', 'web-abc12-old2', 10)],
      renewals: new Map([['pi-1', [at(0), at(1)]]]),
      podNodes: new Map([['default/web-abc12-old1', 'pi-1'], ['default/web-abc12-old2', 'pi-1']]),
    });
    assert.ok(outage);
    assert.equal(outage.node, 'pi-1');
    assert.deepEqual(outage.steps.map((s) => [s.label, s.at === undefined ? undefined : (s.at - at(0)) / 1000]), [
      ['Plug pulled (last heartbeat)', 1], ['NotReady', 7], ['Pods evicted', 9], ['Replacements scheduled', 11], ['Replacements Running', 15],
    ]);
    assert.deepEqual(gaps(outage.steps), [undefined, 6, 2, 2, 4]);
    assert.equal(outage.steps[2]!.note, '2 pods');
  });

  test('a replacement not yet Running leaves the last step open', () => {
    const [outage] = failoverTimelines({
      nodes: [node('pi-1', 'False', 7)],
      pods: [pod('web-abc12-new1', 'pi-2', 10, 11, undefined)],
      events: [event('TaintManagerEviction', 'Pod', 'web-abc12-old1', 9)],
      renewals: new Map(), podNodes: new Map(),
    });
    assert.equal(outage!.steps.find((s) => s.label === 'Replacements Running')!.at, undefined);
    assert.equal(outage!.steps.find((s) => s.label === 'Replacements scheduled')!.at, at(11));
    // Without a Lease seen, the condition's last heartbeat stands in.
    assert.equal(outage!.steps[0]!.at, at(0));
  });

  test('a board that came back shows its past outage from the Events, and when it returned', () => {
    const [outage] = failoverTimelines({
      nodes: [node('pi-1', 'True', 30)],
      pods: [], events: [event('NodeNotReady', 'Node', 'pi-1', 7), event('NodeReady', 'Node', 'pi-1', 30)],
      renewals: new Map(), podNodes: new Map(),
    });
    assert.equal(outage!.start, at(7));
    assert.equal(outage!.recovered, at(30));
    assert.equal(outage!.steps.at(-1)!.label, 'Replacements Running');
  });

  test('a board that never went down has no outage', () => {
    assert.deepEqual(failoverTimelines({ nodes: [node('pi-1', 'True', 0)], pods: [], events: [], renewals: new Map(), podNodes: new Map() }), []);
  });
});

describe('pod states', () => {
  test('the page\'s cut of a pod draws the same as the whole pod, and cutting twice changes nothing', () => {
    const whole = (extra: { nodeName?: string; waiting?: string; deleting?: boolean; scheduled: 'True' | 'False' }) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'web-abc12-x', namespace: 'default', uid: 'u1', resourceVersion: '7', generation: 1, creationTimestamp: t(0),
        labels: { app: 'web', 'pod-template-hash': 'abc12' }, annotations: { note: 'not drawn' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc12', uid: 'rs', controller: true }],
        ...(extra.deleting && { deletionTimestamp: t(9) }) },
      spec: { containers: [{ name: 'main', image: 'nginx' }], restartPolicy: 'Always', ...(extra.nodeName && { nodeName: extra.nodeName }) },
      status: {
        phase: extra.nodeName ? 'Running' : 'Pending', qosClass: 'BestEffort', podIP: '10.0.0.9',
        conditions: [
          { type: 'PodScheduled', status: extra.scheduled, lastTransitionTime: t(1), ...(extra.scheduled === 'False' && { reason: 'Unschedulable', message: '0/3 nodes are available' }) },
          { type: 'Initialized', status: 'True', lastTransitionTime: t(1) },
          { type: 'Ready', status: extra.waiting ? 'False' : 'True', lastTransitionTime: t(2) },
        ],
        containerStatuses: extra.nodeName ? [{ name: 'main', ready: !extra.waiting, restartCount: 4, image: 'nginx', imageID: 'x', containerID: 'y',
          state: extra.waiting ? { waiting: { reason: extra.waiting, message: 'back-off' } } : { running: { startedAt: t(2) } } }] : [],
      },
    }) as unknown as KubeObject;
    for (const full of [whole({ scheduled: 'False' }), whole({ nodeName: 'pi-1', scheduled: 'True' }),
      whole({ nodeName: 'pi-1', scheduled: 'True', waiting: 'CrashLoopBackOff' }), whole({ nodeName: 'pi-1', scheduled: 'True', deleting: true })]) {
      const cut = dashboardPod(full);
      const drawn = (p: PodObject) => [podState(p), restartsOf(p), workloadOf(p), waitingReason(p), p.spec.nodeName, p.metadata.labels];
      assert.deepEqual(drawn(cut), drawn(full as PodObject));
      assert.deepEqual(dashboardPod(cut), cut);
    }
  });

  test('every state has a word and an icon', () => {
    const crashing = pod('web-abc12-x', 'pi-1', 0, 0, 1);
    crashing.status!.containerStatuses = [{ ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }];
    const terminating = pod('web-abc12-y', 'pi-1', 0, 0, 1);
    terminating.metadata.deletionTimestamp = t(5);
    const states = [pod('web-abc12-p', undefined, 0), pod('web-abc12-c', 'pi-1', 0, 0), crashing, terminating].map(podState);
    assert.deepEqual(states.map((s) => s.word), ['Pending', 'ContainerCreating', 'CrashLoopBackOff', 'Terminating']);
    assert.ok(states.every((s) => s.icon.length > 0));
    assert.equal(new Set(states.map((s) => s.icon)).size, 4, 'four states, four icons');
  });

  test('pods are grouped by their Deployment', () => {
    assert.equal(workloadOf(pod('web-abc12-x', 'pi-1', 0)), 'web');
  });

  test('the annotation names match the API contract', () => {
    assert.equal(boardModelAnnotation, apiBoardModel);
    assert.equal(cpuTemperatureAnnotation, apiTemperature);
  });
});
