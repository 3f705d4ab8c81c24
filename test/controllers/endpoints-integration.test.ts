// Endpoints, EndpointSlices and node IPAM against a real control plane with hollow nodes: pods
// that become Ready appear, a node that stops reporting takes its pods out of the ready set at
// once, and they come back with it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { EndpointsObject, NodeObject } from '../../control-plane/controllers/endpoints.ts';
import type { EndpointSliceObject } from '../../control-plane/controllers/endpointslice.ts';
import { startHollowNodes, type HollowNode } from '../support/hollow-node.ts';
import { eventually, startTestServer, type TestServer } from '../support/server.ts';

const services = resourceFor('', 'services')!;
const endpoints = resourceFor('', 'endpoints')!;
const slices = resourceFor('discovery.k8s.io', 'endpointslices')!;
const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;

describe('endpoints controllers against a real server', { timeout: 600_000 }, () => {
  let server: TestServer;
  let hollow: HollowNode[];
  before(async () => {
    // A short grace so a silent node is Unknown in 2 s; a long toleration so its pods are not
    // evicted while the test looks at them.
    server = await startTestServer({ nodeMonitorGracePeriodMs: 2_000, defaultTolerationSeconds: 600 });
    hollow = await startHollowNodes(server, 2, { name: 'ep', leaseIntervalMs: 500 });
  });
  after(async () => {
    await Promise.all(hollow.map((h) => h.stop()));
    await server.stop();
  });

  test('every node gets its own /24 pod CIDR out of 10.42.0.0/16', async () => {
    const cidrs = await eventually(async () => {
      const list = await server.client.list<NodeObject>(nodes);
      const got = list.items.map((n) => (n.spec as { podCIDR?: string; podCIDRs?: string[] } | undefined));
      return got.every((s) => s?.podCIDR && s.podCIDRs?.[0] === s.podCIDR) && got.map((s) => s!.podCIDR!);
    }, 60_000, 'pod CIDRs on both nodes');
    assert.equal(new Set(cidrs).size, 2);
    for (const c of cidrs) assert.match(c, /^10\.42\.\d+\.0\/24$/);
  });

  test('pods that become Ready are listed; a silent node moves its pods to not ready and back', async () => {
    const { client } = server;
    await client.create(services, 'default', {
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', labels: { app: 'web' } },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    for (const [name, node] of [['web-1', 'ep-1'], ['web-2', 'ep-2']] as const) {
      // Bound to a node from the start; it has no IP (and no endpoint) until its node runs it.
      await client.create(pods, 'default', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'web' } },
        spec: { nodeName: node, containers: [{ name: 'nginx', image: 'nginx:latest', ports: [{ name: 'http', containerPort: 8080 }] }] },
      });
    }

    const readyNames = async () => {
      const ep = await client.get<EndpointsObject>(endpoints, 'default', 'web');
      const names = (list: { targetRef?: { name?: string } }[] | undefined) => (list ?? []).map((a) => a.targetRef?.name).sort().join(',');
      return { ready: ep.subsets?.map((s) => names(s.addresses)).join(',') ?? '', notReady: ep.subsets?.map((s) => names(s.notReadyAddresses)).join(',') ?? '', ep };
    };
    const sliceState = async () => {
      const list = await client.list<EndpointSliceObject>(slices, 'default', { labelSelector: 'kubernetes.io/service-name=web' });
      return list.items.flatMap((s) => s.endpoints.map((e) => `${e.targetRef?.name}:${e.conditions?.ready}`)).sort().join(',');
    };

    const both = await eventually(async () => { const s = await readyNames(); return s.ready === 'web-1,web-2' && s; }, 60_000, 'both pods ready in Endpoints');
    assert.equal(both.ep.subsets![0]!.ports![0]!.port, 8080, 'the named targetPort resolved to the container port');
    await eventually(async () => (await sliceState()) === 'web-1:true,web-2:true', 60_000, 'both pods ready in the EndpointSlice');
    const [slice] = (await client.list<EndpointSliceObject>(slices, 'default', { labelSelector: 'kubernetes.io/service-name=web' })).items;
    assert.equal(slice!.metadata.labels!['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    assert.deepEqual(slice!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);

    // The plug of ep-2 is pulled: once the node is Unknown, its pod is not ready in the same sync.
    hollow[1]!.stopHeartbeats();
    await eventually(async () => {
      const node = await client.get<NodeObject>(nodes, undefined, 'ep-2');
      return node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown';
    }, 60_000, 'ep-2 to be Unknown');
    await eventually(async () => { const s = await readyNames(); return s.ready === 'web-1' && s.notReady === 'web-2'; }, 60_000, 'web-2 not ready in Endpoints');
    await eventually(async () => (await sliceState()) === 'web-1:true,web-2:false', 60_000, 'web-2 not ready in the EndpointSlice');

    hollow[1]!.resumeHeartbeats();
    await eventually(async () => (await readyNames()).ready === 'web-1,web-2', 60_000, 'web-2 ready again in Endpoints');
    await eventually(async () => (await sliceState()) === 'web-1:true,web-2:true', 60_000, 'web-2 ready again in the EndpointSlice');

    // Deleting the Service deletes its Endpoints (the controller) and its slices (the garbage collector).
    await client.delete(services, 'default', 'web');
    await eventually(async () => {
      const [eps, sl] = await Promise.all([client.list<KubeObject>(endpoints, 'default'), client.list<KubeObject>(slices, 'default')]);
      return !eps.items.some((e) => e.metadata.name === 'web') && !sl.items.some((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web');
    }, 60_000, 'Endpoints and slices of web to be gone');
  });
});
