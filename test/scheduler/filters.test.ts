import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  filterNode, imagePlatform, nodeAffinity, nodePorts, nodeReady, nodeResourcesFit, nodeUnschedulable, taintToleration,
  unschedulableMessage, type ClusterContext, type Filter,
} from '../../control-plane/scheduler/filters.ts';
import { mergeImagePlatforms, nodeImagePlatforms, normalizeImage } from '../../control-plane/scheduler/image-platforms.ts';
import { newPodInfo } from '../../control-plane/scheduler/pod-info.ts';
import type { NodeInfo } from '../../control-plane/scheduler/node-info.ts';
import { makeNode, makePod, nodeInfo, withRequests, type TestPod } from './fixtures.ts';

const empty: ClusterContext = { imagePlatforms: new Map() };
const run = (filter: Filter, pod: TestPod, node: NodeInfo, cluster = empty) => filter(pod, newPodInfo(pod), node, cluster);

describe('node readiness and cordon filters', () => {
  test('a node whose Ready condition is not True is filtered out', () => {
    assert.deepEqual(run(nodeReady, makePod(), nodeInfo('a', { ready: 'Unknown' })), ['node(s) were not ready']);
    assert.deepEqual(run(nodeReady, makePod(), nodeInfo('a', { ready: 'False' })), ['node(s) were not ready']);
    assert.deepEqual(run(nodeReady, makePod(), nodeInfo('a')), []);
  });

  test('a cordoned node is unschedulable unless the pod tolerates the unschedulable taint', () => {
    const cordoned = nodeInfo('a', { unschedulable: true });
    assert.deepEqual(run(nodeUnschedulable, makePod(), cordoned), ['node(s) were unschedulable']);
    const tolerant = makePod({ tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] });
    assert.deepEqual(run(nodeUnschedulable, tolerant, cordoned), []);
  });
});

describe('resource fit filter', () => {
  test('cpu requests count against allocatable minus what pods on the node already request', () => {
    const node = nodeInfo('a', { cpu: '2' }, [withRequests('1500m')]);
    assert.deepEqual(run(nodeResourcesFit, withRequests('500m'), node), []);
    assert.deepEqual(run(nodeResourcesFit, withRequests('0.6'), node), ['Insufficient cpu']);
  });

  test('memory requests in any unit count against allocatable memory', () => {
    const node = nodeInfo('a', { memory: '1Gi' }, [withRequests(undefined, '512Mi')]);
    assert.deepEqual(run(nodeResourcesFit, withRequests(undefined, '512Mi'), node), []);
    assert.deepEqual(run(nodeResourcesFit, withRequests(undefined, '1G'), node), ['Insufficient memory']);
  });

  test('a limit without a request counts as the request', () => {
    const pod = makePod({ containers: [{ name: 'c', image: 'x', resources: { limits: { cpu: '3' } } }] });
    assert.deepEqual(run(nodeResourcesFit, pod, nodeInfo('a', { cpu: '2' })), ['Insufficient cpu']);
  });

  test('every insufficient resource is reported, and pods count against allocatable pods', () => {
    const node = nodeInfo('a', { cpu: '1', memory: '1Gi', pods: '1' }, [makePod()]);
    assert.deepEqual(run(nodeResourcesFit, withRequests('2', '2Gi'), node), ['Too many pods', 'Insufficient cpu', 'Insufficient memory']);
  });

  test('a pod without requests fits a full node as long as there is room for another pod', () => {
    const node = nodeInfo('a', { cpu: '1' }, [withRequests('1')]);
    assert.deepEqual(run(nodeResourcesFit, makePod(), node), []);
  });
});

describe('node selector and affinity filter', () => {
  const node = nodeInfo('a', { labels: { disk: 'ssd', gen: '3', zone: 'bench' } });

  test('nodeSelector must match every label', () => {
    assert.deepEqual(run(nodeAffinity, makePod({ nodeSelector: { disk: 'ssd' } }), node), []);
    assert.deepEqual(run(nodeAffinity, makePod({ nodeSelector: { disk: 'ssd', zone: 'lab' } }), node), ["node(s) didn't match Pod's node affinity/selector"]);
  });

  const affinity = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt', key: string, values?: string[]) =>
    makePod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key, operator, ...(values && { values }) }] }] } } } });
  const fits = (pod: TestPod) => run(nodeAffinity, pod, node).length === 0;

  test('In and NotIn compare the label value with the listed values', () => {
    assert.ok(fits(affinity('In', 'disk', ['ssd', 'nvme'])));
    assert.ok(!fits(affinity('In', 'disk', ['hdd'])));
    assert.ok(fits(affinity('NotIn', 'disk', ['hdd'])));
    assert.ok(!fits(affinity('NotIn', 'disk', ['ssd'])));
    assert.ok(fits(affinity('NotIn', 'absent', ['x'])), 'NotIn matches a node without the label');
  });

  test('Exists and DoesNotExist look only at the key', () => {
    assert.ok(fits(affinity('Exists', 'disk')));
    assert.ok(!fits(affinity('Exists', 'gpu')));
    assert.ok(fits(affinity('DoesNotExist', 'gpu')));
    assert.ok(!fits(affinity('DoesNotExist', 'disk')));
  });

  test('Gt and Lt compare integers and never match a non-integer', () => {
    assert.ok(fits(affinity('Gt', 'gen', ['2'])));
    assert.ok(!fits(affinity('Gt', 'gen', ['3'])));
    assert.ok(fits(affinity('Lt', 'gen', ['4'])));
    assert.ok(!fits(affinity('Lt', 'gen', ['3'])));
    assert.ok(!fits(affinity('Gt', 'disk', ['1'])));
  });

  test('terms are ORed, expressions in a term ANDed, and an empty term matches nothing', () => {
    const terms = (t: { matchExpressions?: { key: string; operator: 'In'; values: string[] }[] }[]) =>
      makePod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: t } } } });
    assert.ok(fits(terms([{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['hdd'] }] }, { matchExpressions: [{ key: 'zone', operator: 'In', values: ['bench'] }] }])));
    assert.ok(!fits(terms([{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }, { key: 'zone', operator: 'In', values: ['lab'] }] }])));
    assert.ok(!fits(terms([{}])));
  });
});

describe('taint and toleration filter', () => {
  test('an untolerated NoSchedule or NoExecute taint filters the node out, in upstream wording', () => {
    const node = nodeInfo('a', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    assert.deepEqual(run(taintToleration, makePod(), node), ['node(s) had untolerated taint {dedicated: gpu}']);
    const noExec = nodeInfo('b', { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] });
    assert.deepEqual(run(taintToleration, makePod(), noExec), ['node(s) had untolerated taint {node.kubernetes.io/unreachable: }']);
  });

  test('an Equal toleration needs the same value, an Exists toleration any value', () => {
    const node = nodeInfo('a', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] });
    assert.deepEqual(run(taintToleration, makePod({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }] }), node), []);
    assert.equal(run(taintToleration, makePod({ tolerations: [{ key: 'dedicated', value: 'cpu' }] }), node).length, 1);
    assert.deepEqual(run(taintToleration, makePod({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] }), node), []);
    assert.deepEqual(run(taintToleration, makePod({ tolerations: [{ operator: 'Exists' }] }), node), [], 'an empty key with Exists tolerates everything');
  });

  test('a toleration for another effect does not tolerate the taint', () => {
    const node = nodeInfo('a', { taints: [{ key: 'k', effect: 'NoSchedule' }] });
    assert.equal(run(taintToleration, makePod({ tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute' }] }), node).length, 1);
  });

  test('PreferNoSchedule taints never filter', () => {
    assert.deepEqual(run(taintToleration, makePod(), nodeInfo('a', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] })), []);
  });
});

describe('host port filter', () => {
  const withPort = (hostPort: number, protocol: 'TCP' | 'UDP' = 'TCP', hostIP?: string) =>
    makePod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort, protocol, ...(hostIP && { hostIP }) }] }] });

  test('a host port already used on the node with the same protocol conflicts', () => {
    const node = nodeInfo('a', {}, [withPort(8080)]);
    assert.deepEqual(run(nodePorts, withPort(8080), node), ["node(s) didn't have free ports for the requested pod ports"]);
    assert.deepEqual(run(nodePorts, withPort(8081), node), []);
    assert.deepEqual(run(nodePorts, withPort(8080, 'UDP'), node), []);
  });

  test('different host IPs share a port, but 0.0.0.0 conflicts with any', () => {
    const node = nodeInfo('a', {}, [withPort(53, 'UDP', '10.0.0.1')]);
    assert.deepEqual(run(nodePorts, withPort(53, 'UDP', '10.0.0.2'), node), []);
    assert.equal(run(nodePorts, withPort(53, 'UDP'), node).length, 1);
  });
});

describe('image platform filter', () => {
  const pi = nodeInfo('pi', { arch: 'arm64' });
  const vm = nodeInfo('vm', { arch: 'amd64' });

  test('nodes whose arch is not among the platforms a node reported for the image are filtered out', () => {
    const reporter = makeNode('vm', { annotations: { 'labkube.io/image-platforms': JSON.stringify({ 'lab/sensor:1': ['linux/amd64'] }) } });
    const cluster = { imagePlatforms: mergeImagePlatforms([nodeImagePlatforms(reporter)]) };
    const pod = makePod({ containers: [{ name: 'c', image: 'lab/sensor:1' }] });
    assert.deepEqual(run(imagePlatform, pod, pi, cluster), ["node(s) didn't match the image's platform"]);
    assert.deepEqual(run(imagePlatform, pod, vm, cluster), []);
  });

  test('an image nobody reported platforms for may run anywhere', () => {
    const cluster = { imagePlatforms: new Map([['other:1', new Set(['linux/amd64'])]]) };
    assert.deepEqual(run(imagePlatform, makePod(), pi, cluster), []);
  });

  test('platforms merge across nodes, variants are ignored and image names are normalised', () => {
    const a = makeNode('a', { annotations: { 'labkube.io/image-platforms': '{"docker.io/library/nginx":["linux/amd64"]}' } });
    const b = makeNode('b', { annotations: { 'labkube.io/image-platforms': '{"nginx:latest":["linux/arm64/v8"]}' } });
    const cluster = { imagePlatforms: mergeImagePlatforms([nodeImagePlatforms(a), nodeImagePlatforms(b)]) };
    const pod = makePod({ containers: [{ name: 'c', image: 'nginx' }] });
    assert.deepEqual(run(imagePlatform, pod, pi, cluster), []);
    assert.deepEqual(run(imagePlatform, pod, nodeInfo('old-pi', { arch: 'arm' }), cluster), ["node(s) didn't match the image's platform"]);
    assert.equal(normalizeImage('docker.io/library/nginx'), 'nginx:latest');
    assert.equal(normalizeImage('registry.lab:5000/app'), 'registry.lab:5000/app:latest');
  });

  test('a malformed annotation is ignored rather than fatal', () => {
    assert.equal(nodeImagePlatforms(makeNode('a', { annotations: { 'labkube.io/image-platforms': '{not json' } })).size, 0);
  });
});

describe('filter chain and the unschedulable message', () => {
  test('the first failing filter decides a node\'s reasons', () => {
    const node = nodeInfo('a', { unschedulable: true, cpu: '1' });
    assert.deepEqual(filterNode(withRequests('2'), newPodInfo(withRequests('2')), node, empty), ['node(s) were unschedulable']);
  });

  test('reasons are counted over nodes and sorted as Kubernetes prints them', () => {
    assert.equal(unschedulableMessage(3, [['node(s) were unschedulable'], ['Insufficient memory'], ['Insufficient memory']]),
      '0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient memory.');
    assert.equal(unschedulableMessage(2, [['Insufficient cpu', 'Insufficient memory'], ['Insufficient cpu']]),
      '0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.');
  });

  test('a cluster without nodes says so', () => {
    assert.equal(unschedulableMessage(0, []), 'no nodes available to schedule pods');
  });
});
