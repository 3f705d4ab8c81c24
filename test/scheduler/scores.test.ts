import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  imageLocalityScore, leastAllocatedScore, preferNoScheduleScore, scoreNodes, selectHost, spreadScore,
} from '../../control-plane/scheduler/scores.ts';
import { newPodInfo } from '../../control-plane/scheduler/pod-info.ts';
import { makePod, nodeInfo, withRequests } from './fixtures.ts';

const replica = (owner = 'rs-uid') => makePod({}, { labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: owner, controller: true }] });

describe('scores', () => {
  test('spreading scores nodes without the owner\'s pods highest', () => {
    const pod = replica();
    const nodes = [nodeInfo('a', {}, [replica(), replica()]), nodeInfo('b', {}, [replica()]), nodeInfo('c')];
    assert.deepEqual(spreadScore(pod, newPodInfo(pod), nodes), [0, 50, 100]);
  });

  test('spreading ignores pods of another owner', () => {
    const pod = replica('mine');
    const nodes = [nodeInfo('a', {}, [replica('theirs')]), nodeInfo('b')];
    assert.deepEqual(spreadScore(pod, newPodInfo(pod), nodes), [100, 100]);
  });

  test('ownerless pods with the same labels spread as one group', () => {
    const pod = makePod({}, { labels: { app: 'nginx' } });
    const nodes = [nodeInfo('a', {}, [makePod({}, { labels: { app: 'nginx' } })]), nodeInfo('b')];
    assert.deepEqual(spreadScore(pod, newPodInfo(pod), nodes), [0, 100]);
  });

  test('least allocated prefers the node with the most free cpu and memory', () => {
    const pod = withRequests('1', '1Gi');
    const nodes = [nodeInfo('busy', { cpu: '4', memory: '4Gi' }, [withRequests('2', '2Gi')]), nodeInfo('idle', { cpu: '4', memory: '4Gi' })];
    const [busy, idle] = leastAllocatedScore(pod, newPodInfo(pod), nodes);
    assert.equal(idle, 75);
    assert.equal(busy, 25);
  });

  test('least allocated counts pods without requests as 100m and 200Mi, so best-effort pods spread', () => {
    const pod = makePod();
    const nodes = [nodeInfo('a', { cpu: '1', memory: '1000Mi' }, [makePod()]), nodeInfo('b', { cpu: '1', memory: '1000Mi' })];
    const [a, b] = leastAllocatedScore(pod, newPodInfo(pod), nodes);
    assert.ok(b! > a!, `${a} < ${b}`);
    assert.equal(b, 85); // cpu 90, memory 80
  });

  test('image locality prefers a node that has the pod\'s large image', () => {
    const pod = makePod({ containers: [{ name: 'c', image: 'big/model:1' }] });
    const image = { names: ['big/model:1'], sizeBytes: 800 * 1024 * 1024 };
    const nodes = [nodeInfo('has', { images: [image] }), nodeInfo('lacks'), nodeInfo('lacks-2')];
    const [has, lacks] = imageLocalityScore(pod, newPodInfo(pod), nodes);
    assert.ok(has! > 0);
    assert.equal(lacks, 0);
  });

  test('image locality ignores small images', () => {
    const pod = makePod({ containers: [{ name: 'c', image: 'tiny:1' }] });
    const nodes = [nodeInfo('has', { images: [{ names: ['tiny:1'], sizeBytes: 5_000_000 }] }), nodeInfo('lacks')];
    assert.deepEqual(imageLocalityScore(pod, newPodInfo(pod), nodes), [0, 0]);
  });

  test('PreferNoSchedule taints lower a node\'s score unless tolerated', () => {
    const soft = { key: 'battery', effect: 'PreferNoSchedule' as const };
    const nodes = [nodeInfo('soft', { taints: [soft] }), nodeInfo('plain')];
    const pod = makePod();
    assert.deepEqual(preferNoScheduleScore(pod, newPodInfo(pod), nodes), [0, 100]);
    const tolerant = makePod({ tolerations: [{ key: 'battery', operator: 'Exists' }] });
    assert.deepEqual(preferNoScheduleScore(tolerant, newPodInfo(tolerant), nodes), [100, 100]);
  });

  test('spreading outweighs free resources', () => {
    const pod = replica();
    const nodes = [nodeInfo('big-with-replica', { cpu: '64', memory: '256Gi' }, [replica()]), nodeInfo('small-empty', { cpu: '1', memory: '1Gi' })];
    const totals = scoreNodes(pod, newPodInfo(pod), nodes);
    assert.equal(selectHost(totals), 1);
  });

  test('selectHost picks the best total and breaks ties at random', () => {
    assert.equal(selectHost([1, 5, 3]), 1);
    assert.equal(selectHost([5, 5], () => 0), 1);
    assert.equal(selectHost([5, 5], () => 0.9), 0);
  });
});
