// Issue 9, items 3, 4, 9, 13 and 14: input that used to answer 500, be stored nameless, make a
// controller create 60,000 pods, or erase a pod's status, now gets a 4xx Status naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import { imageReferenceError, normalizedImage } from '../../control-plane/api/image-reference.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import type { InformerHandlers } from '../../control-plane/client/informer.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import { ReplicaSetController, type ReplicaSetObject } from '../../control-plane/controllers/replicaset.ts';
import { buildTestApp, call, deploymentManifest, podManifest } from '../support/app.ts';

let app: FastifyInstance;
before(async () => { app = await buildTestApp(); });
after(async () => { await app.close(); });

const pods = '/api/v1/namespaces/default/pods';
const deployments = '/apis/apps/v1/namespaces/default/deployments';
const replicasets = '/apis/apps/v1/namespaces/default/replicasets';

/** Asserts a 4xx Status whose causes name `field` (422), or just the code for other 4xx. */
function assertRejected(res: { status: number; body: any }, code: number, field?: string): void { // eslint-disable-line @typescript-eslint/no-explicit-any -- a Status read from JSON
  assert.equal(res.status, code, JSON.stringify(res.body));
  assert.equal(res.body.kind, 'Status');
  if (field !== undefined) {
    const fields = (res.body.details?.causes ?? []).map((c: { field?: string }) => c.field);
    assert.ok(fields.includes(field), `expected a cause for ${field}, got ${JSON.stringify(fields)}`);
  }
}

const replicaSetManifest = (name: string, replicas: unknown) => ({
  apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name },
  spec: {
    replicas, selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
  },
});

describe('integers are int32 or int64 as in Kubernetes (item 3)', () => {
  test('replicas of 1e308 or 2^53 is a 422 on spec.replicas, in dry run too', async () => {
    for (const replicas of [1e308, 2 ** 53, 2 ** 31, -1]) {
      assertRejected(await call(app, 'POST', deployments, { ...deploymentManifest('huge'), spec: { ...deploymentManifest('huge').spec, replicas } }), 422, 'spec.replicas');
      assertRejected(await call(app, 'POST', `${replicasets}?dryRun=All`, replicaSetManifest('huge', replicas)), 422, 'spec.replicas');
    }
    assert.equal((await call(app, 'POST', replicasets, replicaSetManifest('max', 2 ** 31 - 1), { headers: {} })).status, 201);
    await call(app, 'DELETE', `${replicasets}/max`);
  });

  test('the scale subresource refuses replicas past int32 through PUT and PATCH', async () => {
    assert.equal((await call(app, 'POST', deployments, deploymentManifest('scaled', 1))).status, 201);
    const scale = (await call(app, 'GET', `${deployments}/scaled/scale`)).body;
    assertRejected(await call(app, 'PUT', `${deployments}/scaled/scale`, { ...scale, spec: { replicas: 1e308 } }), 422, 'spec.replicas');
    assertRejected(await call(app, 'PATCH', `${deployments}/scaled/scale`, { spec: { replicas: 2 ** 53 } },
      { contentType: 'application/merge-patch+json' }), 422, 'spec.replicas');
    assertRejected(await call(app, 'PATCH', `${deployments}/scaled?dryRun=All`, { spec: { replicas: 2 ** 53 } },
      { contentType: 'application/merge-patch+json' }), 422, 'spec.replicas');
    assert.equal((await call(app, 'GET', `${deployments}/scaled`)).body.spec.replicas, 1);
  });

  test('int64 fields take safe integers only', async () => {
    const pod = podManifest('grace');
    assertRejected(await call(app, 'POST', pods, { ...pod, spec: { ...pod.spec, terminationGracePeriodSeconds: 2 ** 60 } }), 422, 'spec.terminationGracePeriodSeconds');
    assertRejected(await call(app, 'POST', pods, { ...pod, spec: { ...pod.spec, activeDeadlineSeconds: 1e300 } }), 422, 'spec.activeDeadlineSeconds');
    const probe = { ...pod.spec.containers[0], readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 2 ** 31 } };
    assertRejected(await call(app, 'POST', pods, { ...pod, spec: { containers: [probe] } }), 422, 'spec.containers[0].readinessProbe.periodSeconds');
  });
});

/** A client whose writes go straight to the test server's registry, to run the controller's sync against it. */
function registryClient(server: FastifyInstance) {
  let creates = 0;
  const client = {
    async create(r: Parameters<typeof server.registry.create>[0], ns: string, obj: KubeObject) {
      creates++;
      return server.registry.create(r, ns, obj).object;
    },
    async update(_r: unknown, obj: KubeObject) { return obj; },
    async patch() { return {}; },
    async delete() { return {}; },
    async get() { return {}; },
  };
  return { client: client as unknown as KubeClient, creates: () => creates };
}

class StaticInformer<T extends KubeObject> {
  constructor(private readonly items: T[]) {}
  on(_h: InformerHandlers<T>): this { return this; }
  get(key: string): T | undefined { return this.items.find((o) => `${o.metadata.namespace}/${o.metadata.name}` === key); }
  list(): T[] { return this.items; }
  waitForSync(): Promise<void> { return Promise.resolve(); }
}

function replicaSetObject(namespace: string, replicas: number): ReplicaSetObject {
  return { ...replicaSetManifest('burst', replicas), metadata: { name: 'burst', namespace, uid: 'rs-burst', generation: 1, resourceVersion: '1' }, status: {} } as ReplicaSetObject;
}

describe('the ReplicaSet controller creates in bounded bursts (item 3)', () => {
  const events: string[] = [];
  const recorder = { record: (_o: KubeObject, _t: string, reason: string) => { events.push(reason); } };

  test('one sync creates at most 500 pods (Kubernetes BurstReplicas) and then waits to see them', async () => {
    const server = await buildTestApp();
    try {
      const { client, creates } = registryClient(server);
      const rs = replicaSetObject('default', 100_000);
      const c = new ReplicaSetController({ client, replicaSets: new StaticInformer([rs]), pods: new StaticInformer<PodObject>([]), recorder });
      await c.sync('default/burst');
      assert.equal(creates(), 500);
      assert.equal(server.registry.list(resourceFor('', 'pods')!, 'default').items.length, 500);
      // Until the informer shows those 500 pods, another sync creates nothing more.
      await c.sync('default/burst');
      assert.equal(creates(), 500);
    } finally {
      await server.close();
    }
  });

  test('a create the API refuses costs one request, not 500 (slow start)', async () => {
    const server = await buildTestApp();
    try {
      const { client, creates } = registryClient(server);
      // The namespace does not exist, so every create answers 404.
      const rs = replicaSetObject('missing', 1000);
      const c = new ReplicaSetController({ client, replicaSets: new StaticInformer([rs]), pods: new StaticInformer<PodObject>([]), recorder });
      await assert.rejects(c.sync('missing/burst'), /not found/);
      assert.equal(creates(), 1);
      assert.ok(events.includes('FailedCreate'));
    } finally {
      await server.close();
    }
  });
});

describe('bad shapes answer 4xx with a field cause, not 500 (item 4)', () => {
  test('a generateName that is not a string', async () => {
    for (const generateName of [42, {}, ['a'], true]) {
      const res = await call(app, 'POST', pods, { ...podManifest('x'), metadata: { generateName } });
      assertRejected(res, 422, 'metadata.generateName');
    }
  });

  test('spec.containers that is not a list, on POST and PUT', async () => {
    for (const containers of ['x', 42, { name: 'a' }, null, true]) {
      assertRejected(await call(app, 'POST', pods, { ...podManifest('shape'), spec: { containers } }), 422, 'spec.containers');
      const dep = deploymentManifest('shape');
      assertRejected(await call(app, 'POST', deployments, { ...dep, spec: { ...dep.spec, template: { ...dep.spec.template, spec: { containers } } } }), 422, 'spec.template.spec.containers');
    }
    assert.equal((await call(app, 'POST', pods, podManifest('shape'))).status, 201);
    const current = (await call(app, 'GET', `${pods}/shape`)).body;
    for (const containers of ['x', 42, { name: 'a' }]) {
      assertRejected(await call(app, 'PUT', `${pods}/shape`, { ...current, spec: { ...current.spec, containers } }), 422, 'spec.containers');
    }
  });

  test('spec.tolerations that is not a list, on update and patch', async () => {
    assert.equal((await call(app, 'POST', pods, podManifest('tolerant'))).status, 201);
    const current = (await call(app, 'GET', `${pods}/tolerant`)).body;
    for (const tolerations of ['x', 7, { key: 'a' }]) {
      assertRejected(await call(app, 'PUT', `${pods}/tolerant`, { ...current, spec: { ...current.spec, tolerations } }), 422, 'spec.tolerations');
      assertRejected(await call(app, 'PATCH', `${pods}/tolerant`, { spec: { tolerations } }, { contentType: 'application/merge-patch+json' }), 422, 'spec.tolerations');
    }
  });

  test('a grace period no Date can hold is a 422, and the pod stays', async () => {
    const pod = podManifest('slow');
    assert.equal((await call(app, 'POST', pods, { ...pod, spec: { ...pod.spec, nodeName: 'pi-1' } })).status, 201);
    for (const gracePeriodSeconds of [8.64e12, 2 ** 53]) {
      const res = await call(app, 'DELETE', `${pods}/slow`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds });
      assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${JSON.stringify(res.body)}`);
    }
    assert.equal((await call(app, 'GET', `${pods}/slow`)).status, 200);
  });

  test('a wrong type in server-owned metadata, a Scale of another kind and a bad taint key are refused, not ignored', async () => {
    assert.equal((await call(app, 'POST', replicasets, replicaSetManifest('owned', 1))).status, 201);
    const current = (await call(app, 'GET', `${replicasets}/owned`)).body;
    for (const [field, value] of [['deletionGracePeriodSeconds', []], ['generation', 'x'], ['uid', 7], ['creationTimestamp', {}]] as const) {
      assertRejected(await call(app, 'PUT', `${replicasets}/owned`, { ...current, metadata: { ...current.metadata, [field]: value } }), 422, `metadata.${field}`);
      assertRejected(await call(app, 'PATCH', `${replicasets}/owned`, { metadata: { [field]: value } }, { contentType: 'application/merge-patch+json' }), 422, `metadata.${field}`);
    }
    const res = await call(app, 'PUT', `${replicasets}/owned/scale`, { apiVersion: 'autoscaling/v1', kind: 'ReplicaSet', metadata: { name: 'owned' }, spec: { replicas: 3 } });
    assertRejected(res, 400);
    assert.equal((await call(app, 'GET', `${replicasets}/owned`)).body.spec.replicas, 1);
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'tainted' }, spec: { taints: [{ key: 'a b', effect: 'NoSchedule' }] } };
    assertRejected(await call(app, 'POST', '/api/v1/nodes', node), 422, 'spec.taints[0].key');
    const twice = { ...node, spec: { taints: [{ key: 'k', effect: 'NoSchedule' }, { key: 'k', value: 'v', effect: 'NoSchedule' }] } };
    assertRejected(await call(app, 'POST', '/api/v1/nodes', twice), 422, 'spec.taints[1]');
  });

  test('the wrong type anywhere in a pod, a deployment or a service never answers 5xx', async () => {
    const bad = ['x', 1e308, -1, null, [], {}, [1], true];
    const targets: [string, Record<string, unknown>, string[][]][] = [
      [pods, podManifest('anywhere'), [['spec'], ['spec', 'containers', '0'], ['spec', 'containers', '0', 'env'], ['spec', 'containers', '0', 'ports'],
        ['spec', 'containers', '0', 'resources'], ['spec', 'containers', '0', 'resources', 'limits'], ['spec', 'tolerations'], ['spec', 'nodeSelector'],
        ['metadata', 'labels'], ['metadata', 'annotations'], ['metadata', 'ownerReferences'], ['metadata', 'finalizers']]],
      [deployments, deploymentManifest('anywhere'), [['spec', 'strategy'], ['spec', 'strategy', 'rollingUpdate'], ['spec', 'selector'], ['spec', 'template', 'metadata']]],
      ['/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'anywhere' }, spec: { ports: [{ port: 80 }] } },
        [['spec', 'ports'], ['spec', 'ports', '0'], ['spec', 'ports', '0', 'targetPort'], ['spec', 'selector'], ['spec', 'clusterIP'], ['spec', 'clusterIPs']]],
    ];
    for (const [url, manifest, paths] of targets) {
      for (const path of paths) {
        for (const value of bad) {
          const body = structuredClone(manifest);
          let cur: Record<string, unknown> = body;
          for (const key of path.slice(0, -1)) cur = (cur[key] ??= {}) as Record<string, unknown>;
          cur[path[path.length - 1]!] = value;
          const res = await call(app, 'POST', `${url}?dryRun=All`, body);
          assert.ok(res.status < 500, `${path.join('.')}=${JSON.stringify(value)}: ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
    }
  });
});

describe('generateName (item 9)', () => {
  test('an empty generateName and no name is a 422, and nothing is stored under "undefined"', async () => {
    const res = await call(app, 'POST', pods, { ...podManifest('x'), metadata: { generateName: '' } });
    assertRejected(res, 422, 'metadata.name');
    assert.match(res.body.message, /name or generateName is required/);
    const ns = await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { generateName: '' } });
    assertRejected(ns, 422, 'metadata.name');
    assert.equal(app.registry.store.get('/pods/default/undefined'), undefined);
    assert.equal(app.registry.store.get('/namespaces/undefined'), undefined);
  });

  test('an invalid generateName is a 422; a valid one gets a suffix', async () => {
    for (const generateName of ['UPPER-', 'a_b-', '-', 'x'.repeat(300)]) {
      assertRejected(await call(app, 'POST', pods, { ...podManifest('x'), metadata: { generateName } }), 422, 'metadata.generateName');
    }
    const ok = await call(app, 'POST', pods, { ...podManifest('x'), metadata: { generateName: 'web-' } });
    assert.equal(ok.status, 201);
    assert.match(ok.body.metadata.name, /^web-[a-z0-9]{5}$/);
  });
});

describe('values validated at the API (item 13)', () => {
  const withContainer = (name: string, extra: Record<string, unknown>) => ({
    ...podManifest(name), spec: { containers: [{ name: 'c', image: 'nginx:1.25', ...extra }] },
  });

  test('resource quantities must parse and be non-negative, and requests may not exceed limits', async () => {
    for (const q of ['-1', 'xxx', '\u0000', '1.5.5', '', -1]) {
      assertRejected(await call(app, 'POST', pods, withContainer('q', { resources: { requests: { cpu: q } } })), 422, 'spec.containers[0].resources.requests[cpu]');
      assertRejected(await call(app, 'POST', pods, withContainer('q', { resources: { limits: { memory: q } } })), 422, 'spec.containers[0].resources.limits[memory]');
    }
    assertRejected(await call(app, 'POST', pods, withContainer('q', { resources: { requests: { cpu: '2' }, limits: { cpu: '500m' } } })), 422, 'spec.containers[0].resources.requests');
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, withContainer('q', { resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: 1, memory: '1e9' } } }))).status, 201);
  });

  test('images follow the Docker reference grammar', async () => {
    for (const image of [' nginx', 'nginx ', 'NGINX', 'nginx:', 'nginx:-bad', 'nginx@sha256:xyz', '//x', 'a/../b', 'x'.repeat(300)]) {
      assert.ok(imageReferenceError(image), image);
      assertRejected(await call(app, 'POST', pods, withContainer('img', { image })), 422, 'spec.containers[0].image');
    }
    for (const image of ['nginx', 'nginx:1.25', 'library/nginx:latest', 'registry.lab:5000/team/app:v1.2-rc', 'localhost/busybox',
      `busybox@sha256:${'a'.repeat(64)}`, 'Registry.Example.com/x/y']) {
      assert.equal(imageReferenceError(image), undefined, image);
    }
    assert.equal(normalizedImage('nginx'), 'docker.io/library/nginx:latest');
    assert.equal(normalizedImage('docker.io/library/nginx:latest'), 'docker.io/library/nginx:latest');
    assert.equal(normalizedImage('user/app:1'), 'docker.io/user/app:1');
    assert.equal(normalizedImage('registry.lab:5000/app'), 'registry.lab:5000/app:latest');
  });

  test('environment variable names', async () => {
    for (const name of ['1ABC', 'A=B', 'has space', '']) {
      assertRejected(await call(app, 'POST', pods, withContainer('env', { env: [{ name, value: 'x' }] })), 422, 'spec.containers[0].env[0].name');
    }
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, withContainer('env', { env: [{ name: 'MY_VAR.x-1', value: 'x' }] }))).status, 201);
  });

  test('maxSurge and maxUnavailable are an int or a percent, not both zero', async () => {
    const dep = deploymentManifest('rolling');
    const withStrategy = (strategy: unknown) => ({ ...dep, spec: { ...dep.spec, strategy } });
    const cases: [unknown, string][] = [
      [{ rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } }, 'spec.strategy.rollingUpdate.maxUnavailable'],
      [{ rollingUpdate: { maxSurge: '0%', maxUnavailable: 0 } }, 'spec.strategy.rollingUpdate.maxUnavailable'],
      [{ rollingUpdate: { maxSurge: 'abc' } }, 'spec.strategy.rollingUpdate.maxSurge'],
      [{ rollingUpdate: { maxSurge: -1 } }, 'spec.strategy.rollingUpdate.maxSurge'],
      [{ rollingUpdate: { maxUnavailable: '150%' } }, 'spec.strategy.rollingUpdate.maxUnavailable'],
      [{ type: 'Recreate', rollingUpdate: { maxSurge: 1 } }, 'spec.strategy.rollingUpdate'],
    ];
    for (const [strategy, field] of cases) assertRejected(await call(app, 'POST', deployments, withStrategy(strategy)), 422, field);
    assert.equal((await call(app, 'POST', `${deployments}?dryRun=All`, withStrategy({ rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } }))).status, 201);
  });

  test('service target ports and probe ports are 1-65535 or an IANA service name', async () => {
    const svc = (targetPort: unknown) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'tp' }, spec: { ports: [{ port: 80, targetPort }] } });
    for (const targetPort of [70000, -3, 'Bad_Name', 'a--b', 'toolongportname16', '123']) {
      assertRejected(await call(app, 'POST', '/api/v1/namespaces/default/services', svc(targetPort)), 422, 'spec.ports[0].targetPort');
    }
    assert.equal((await call(app, 'POST', '/api/v1/namespaces/default/services?dryRun=All', svc('http'))).status, 201);
    for (const port of [0, 70000, 'Bad_Name']) {
      assertRejected(await call(app, 'POST', pods, withContainer('probe', { livenessProbe: { httpGet: { port } } })), 422, 'spec.containers[0].livenessProbe.httpGet.port');
    }
    assertRejected(await call(app, 'POST', pods, withContainer('probe', { ports: [{ name: 'Not_Valid', containerPort: 80 }] })), 422, 'spec.containers[0].ports[0].name');
  });

  test('tolerationSeconds is an int64 and only with NoExecute', async () => {
    const withToleration = (t: unknown) => ({ ...podManifest('tol'), spec: { ...podManifest('tol').spec, tolerations: [t] } });
    assertRejected(await call(app, 'POST', pods, withToleration({ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1e300 })), 422, 'spec.tolerations[0].tolerationSeconds');
    assertRejected(await call(app, 'POST', pods, withToleration({ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 })), 422, 'spec.tolerations[0].effect');
    assertRejected(await call(app, 'POST', pods, withToleration({ key: 'k', operator: 'Exists', value: 'v' })), 422, 'spec.tolerations[0].operator');
    assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, withToleration({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }))).status, 201);
  });

  test('Lease times are RFC 3339 micro times', async () => {
    const leases = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
    const lease = (renewTime: unknown) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'n', leaseDurationSeconds: 40, renewTime } });
    for (const t of ['yesterday', '2026-13-01T00:00:00Z', '2026-01-01', '']) {
      assertRejected(await call(app, 'POST', leases, lease(t)), 422, 'spec.renewTime');
    }
    assertRejected(await call(app, 'POST', leases, { ...lease('2026-01-01T00:00:00.000000Z'), spec: { leaseDurationSeconds: 2 ** 40 } }), 422, 'spec.leaseDurationSeconds');
    assert.equal((await call(app, 'POST', leases, lease('2026-01-01T00:00:00.123456Z'))).status, 201);
  });
});

describe('a status write without status (item 14)', () => {
  test('PUT pods/NAME/status without status is a 422 and keeps the status', async () => {
    const pod = podManifest('statusful');
    assert.equal((await call(app, 'POST', pods, { ...pod, spec: { ...pod.spec, nodeName: 'pi-1' } })).status, 201);
    const current = (await call(app, 'GET', `${pods}/statusful`)).body;
    const running = { ...current, status: { ...current.status, phase: 'Running', podIP: '10.42.1.7' } };
    assert.equal((await call(app, 'PUT', `${pods}/statusful/status`, running)).status, 200);
    const { status: _drop, ...withoutStatus } = (await call(app, 'GET', `${pods}/statusful`)).body;
    assertRejected(await call(app, 'PUT', `${pods}/statusful/status`, withoutStatus), 422, 'status');
    assertRejected(await call(app, 'PUT', `${pods}/statusful/status`, { ...withoutStatus, status: null }), 422, 'status');
    const after = (await call(app, 'GET', `${pods}/statusful`)).body;
    assert.equal(after.status.phase, 'Running');
    assert.equal(after.status.podIP, '10.42.1.7');
  });
});

describe('node pod CIDRs', () => {
  test('a pod CIDR must be a CIDR, is set once, and an update that omits it keeps it', async () => {
    const nodes = '/api/v1/nodes';
    const node = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, spec });
    assertRejected(await call(app, 'POST', nodes, node('cidr-bad', { podCIDR: '10.42.1.0' })), 422, 'spec.podCIDR');
    assertRejected(await call(app, 'POST', nodes, node('cidr-bad', { podCIDR: '10.42.1.0/24', podCIDRs: ['10.42.2.0/24'] })), 422, 'spec.podCIDRs');
    assert.equal((await call(app, 'POST', nodes, node('cidr', {}))).status, 201);
    const set = await call(app, 'PATCH', `${nodes}/cidr`, { spec: { podCIDR: '10.42.7.0/24', podCIDRs: ['10.42.7.0/24'] } }, { contentType: 'application/merge-patch+json' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const current = set.body;
    const put = await call(app, 'PUT', `${nodes}/cidr`, { ...current, spec: { unschedulable: true } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.spec.podCIDR, '10.42.7.0/24');
    assert.deepEqual(put.body.spec.podCIDRs, ['10.42.7.0/24']);
    assertRejected(await call(app, 'PATCH', `${nodes}/cidr`, { spec: { podCIDR: '10.42.8.0/24', podCIDRs: ['10.42.8.0/24'] } }, { contentType: 'application/merge-patch+json' }), 422, 'spec.podCIDRs');
  });
});

// Issue 9 fuzz findings 3-8: bodies that used to be accepted as admin and change an object.
describe('fuzz findings: bodies that must be refused and change nothing', () => {
  const nodes = '/api/v1/nodes';
  const merge = { contentType: 'application/merge-patch+json' };
  const labelledNode = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { keep: 'me' } }, spec: { unschedulable: true } });

  test('a PUT body without the name (`{}`) is a 400 and keeps the object (finding 3)', async () => {
    assert.equal((await call(app, 'POST', nodes, labelledNode('fuzz-node'))).status, 201);
    const before = (await call(app, 'GET', `${nodes}/fuzz-node`)).body;
    // As text: JSON.stringify would drop a literal __proto__ key.
    for (const body of ['{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"kind":"Node","apiVersion":"v1"}']) {
      const res = await call(app, 'PUT', `${nodes}/fuzz-node`, body);
      assertRejected(res, 400);
      assert.equal(res.body.message, 'the name of the object () does not match the name on the URL (fuzz-node)');
    }
    assert.deepEqual((await call(app, 'GET', `${nodes}/fuzz-node`)).body, before);
  });

  test('values that are not plain JSON are refused wherever they are (finding 3)', async () => {
    const { shapeErrors } = await import('../../control-plane/api/validation.ts');
    const nodeSchema = resourceFor('', 'nodes')!.schema;
    const fields = (value: unknown) => shapeErrors(nodeSchema, value).map((c) => c.field);
    assert.deepEqual(fields({ metadata: { name: 'n', annotations: { a: new Uint8Array([158]) } } }), ['metadata.annotations.a']);
    assert.deepEqual(fields({ metadata: { name: 'n' }, extra: { deep: [1, Infinity] } }), ['extra.deep[1]']);
    assert.deepEqual(fields({ metadata: { name: 'n' }, extra: new Date(0) }), ['extra']);
    assert.deepEqual(fields({ metadata: { name: 'n' }, extra: { deep: [1, null, 'x', true, { a: {} }] } }), []);
    // YAML's !!binary decodes to a Uint8Array: stored, it would come back as {"0":158,...}.
    const yaml = 'apiVersion: v1\nkind: Node\nmetadata:\n  name: fuzz-node\n  labels:\n    keep: me\nspec:\n  unschedulable: true\na: !!binary "not base64!"\n';
    const before = (await call(app, 'GET', `${nodes}/fuzz-node`)).body;
    const res = await call(app, 'PUT', `${nodes}/fuzz-node`, yaml.replace('name: fuzz-node', `name: fuzz-node\n  resourceVersion: "${before.metadata.resourceVersion}"`), { contentType: 'application/yaml' });
    assert.ok(res.status === 400 || res.status === 422, `${res.status} ${JSON.stringify(res.body)}`);
    assert.deepEqual((await call(app, 'GET', `${nodes}/fuzz-node`)).body, before);
  });

  test('a number past float64 (1e400) in a patch or a body is a 400 even where the field is dropped', async () => {
    assert.equal((await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'huge-number' } })).status, 201);
    const before = (await call(app, 'GET', '/api/v1/namespaces/huge-number')).body;
    for (const contentType of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      assertRejected(await call(app, 'PATCH', '/api/v1/namespaces/huge-number', '{"spec":{"replicas":1e400}}', { contentType }), 400);
    }
    assertRejected(await call(app, 'PATCH', '/api/v1/namespaces/huge-number', '[{"op":"add","path":"/metadata/labels","value":{"a":-1e400}}]', { contentType: 'application/json-patch+json' }), 400);
    const put = JSON.stringify({ ...before, spec: { replicas: 1 } }).replace('"replicas":1', '"replicas":1e400');
    assertRejected(await call(app, 'PUT', '/api/v1/namespaces/huge-number', put), 400);
    assert.deepEqual((await call(app, 'GET', '/api/v1/namespaces/huge-number')).body, before);
  });

  test('the scale subresource refuses a Scale naming another object (finding 4)', async () => {
    assert.equal((await call(app, 'POST', replicasets, replicaSetManifest('rs', 1))).status, 201);
    const scale = (await call(app, 'GET', `${replicasets}/rs/scale`)).body;
    const other = await call(app, 'PUT', `${replicasets}/rs/scale`, { ...scale, metadata: { ...scale.metadata, name: 'other' }, spec: { replicas: 5 } });
    assertRejected(other, 400);
    assert.equal(other.body.message, 'the name of the object (other) does not match the name on the URL (rs)');
    assertRejected(await call(app, 'PUT', `${replicasets}/rs/scale`, { ...scale, metadata: { ...scale.metadata, name: 42 }, spec: { replicas: 5 } }), 400);
    assertRejected(await call(app, 'PATCH', `${replicasets}/rs/scale`, { metadata: null, spec: { replicas: 5 } }, merge), 400);
    assertRejected(await call(app, 'PATCH', `${replicasets}/rs/scale`, { metadata: { name: 'other' }, spec: { replicas: 5 } }, merge), 400);
    assert.equal((await call(app, 'GET', `${replicasets}/rs`)).body.spec.replicas, 1);
    // Its own name, or none (labkube's clients send only spec), still scales.
    assert.equal((await call(app, 'PUT', `${replicasets}/rs/scale`, { ...scale, spec: { replicas: 2 } })).status, 200);
    assert.equal((await call(app, 'PUT', `${replicasets}/rs/scale`, { spec: { replicas: 3 } })).status, 200);
    assert.equal((await call(app, 'GET', `${replicasets}/rs`)).body.spec.replicas, 3);
  });

  test('ownerReferences: complete, and at most one controller (finding 5)', async () => {
    const ref = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: `uid-${name}`, ...extra });
    const owned = (refs: unknown[]) => podManifest('owned', { metadata: { name: 'owned', ownerReferences: refs } });
    const two = await call(app, 'POST', pods, owned([ref('a', { controller: true }), ref('b', { controller: true })]));
    assertRejected(two, 422, 'metadata.ownerReferences');
    assert.match(two.body.message, /Only one reference can have Controller set to true/);
    assertRejected(await call(app, 'POST', pods, owned([ref('a', { uid: '' })])), 422, 'metadata.ownerReferences.uid');
    assertRejected(await call(app, 'POST', pods, owned([ref('', {})])), 422, 'metadata.ownerReferences.name');
    assertRejected(await call(app, 'POST', pods, owned([ref('a', { kind: '' })])), 422, 'metadata.ownerReferences.kind');
    assertRejected(await call(app, 'POST', pods, owned([ref('a', { apiVersion: 'apps/' })])), 422, 'metadata.ownerReferences.apiVersion');
    assert.equal((await call(app, 'GET', `${pods}/owned`)).status, 404);
    assert.equal((await call(app, 'POST', pods, owned([ref('a', { controller: true }), ref('b', { controller: false })]))).status, 201);
    assertRejected(await call(app, 'PATCH', `${pods}/owned`, { metadata: { ownerReferences: [ref('a', { controller: true }), ref('b', { controller: true })] } }, merge), 422, 'metadata.ownerReferences');
    assert.equal((await call(app, 'GET', `${pods}/owned`)).body.metadata.ownerReferences.length, 2);
  });

  test('finalizer names are qualified names; a namespace finalizer is also a standard one (finding 6)', async () => {
    for (const bad of ['bad finalizer', 'example.com/', '/x', 'a/b/c', '-x']) {
      assertRejected(await call(app, 'POST', pods, podManifest('fin', { metadata: { name: 'fin', finalizers: [bad] } })), 422, 'metadata.finalizers');
    }
    for (const good of ['example.com/cleanup', 'kubernetes', 'orphan', 'foregroundDeletion']) {
      assert.equal((await call(app, 'POST', `${pods}?dryRun=All`, podManifest('fin', { metadata: { name: 'fin', finalizers: [good] } }))).status, 201);
    }
    const ns = (finalizers: string[]) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fin-ns' }, spec: { finalizers } });
    assertRejected(await call(app, 'POST', '/api/v1/namespaces?dryRun=All', ns(['custom'])), 422, 'spec.finalizers');
    assert.equal((await call(app, 'POST', '/api/v1/namespaces?dryRun=All', ns(['kubernetes', 'example.com/x']))).status, 201);
  });

  test('a cluster-scoped kind with a metadata.namespace of the wrong type is a 422 (finding 7)', async () => {
    for (const namespace of [[], 7, { a: 1 }]) {
      assertRejected(await call(app, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'typed-ns', namespace } }), 422, 'metadata.namespace');
    }
    assert.equal((await call(app, 'GET', '/api/v1/namespaces/typed-ns')).status, 404);
    // A string is dropped, as Kubernetes does for a cluster-scoped kind.
    assert.equal((await call(app, 'POST', '/api/v1/namespaces?dryRun=All', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'typed-ns', namespace: 'x' } })).status, 201);
  });

  test('a list or a string for Deployment spec.strategy is a 422 on PUT and patch (finding 8)', async () => {
    assert.equal((await call(app, 'POST', deployments, deploymentManifest('strat', 1))).status, 201);
    const before = (await call(app, 'GET', `${deployments}/strat`)).body;
    for (const strategy of [[7], [], 'x', 7]) {
      assertRejected(await call(app, 'PUT', `${deployments}/strat`, { ...before, spec: { ...before.spec, strategy } }), 422, 'spec.strategy');
      assertRejected(await call(app, 'PATCH', `${deployments}/strat`, { spec: { strategy } }, merge), 422, 'spec.strategy');
      assertRejected(await call(app, 'POST', `${deployments}?dryRun=All`, { ...deploymentManifest('strat2', 1), spec: { ...deploymentManifest('strat2', 1).spec, strategy } }), 422, 'spec.strategy');
    }
    assert.deepEqual((await call(app, 'GET', `${deployments}/strat`)).body, before);
  });
});

describe('every object- or list-typed field of every kind refuses the other shapes (finding 8)', () => {
  type Step = string | number;
  /** Paths to every field the schema types as an object or a list, through lists and maps. */
  function shapedPaths(schema: TSchema, at: Step[] = [], out: { path: Step[]; shape: 'object' | 'array' }[] = []) {
    const s = schema as { type?: string; anyOf?: TSchema[]; properties?: Record<string, TSchema>; patternProperties?: Record<string, TSchema>; items?: TSchema };
    if (at.length > 14) return out; // deeper than any kind labkube serves: a recursive schema
    const variants = s.anyOf ?? [schema];
    const shapes = new Set(variants.map((v) => (v as { type?: string }).type).filter((t) => t !== 'null'));
    if (shapes.size === 1 && (shapes.has('object') || shapes.has('array')) && at.length > 0) out.push({ path: at, shape: [...shapes][0] as 'object' | 'array' });
    for (const v of variants) {
      const vs = v as typeof s;
      for (const [key, sub] of Object.entries(vs.properties ?? {})) shapedPaths(sub, [...at, key], out);
      for (const sub of Object.values(vs.patternProperties ?? {})) shapedPaths(sub, [...at, 'key'], out);
      if (vs.items) shapedPaths(vs.items, [...at, 0], out);
    }
    return out;
  }
  function setAt(obj: Record<string, unknown>, path: Step[], value: unknown): void {
    let cur = obj as Record<string | number, unknown>;
    path.forEach((step, i) => {
      if (i === path.length - 1) { cur[step] = value; return; }
      const next = cur[step];
      if (next === null || typeof next !== 'object') cur[step] = typeof path[i + 1] === 'number' ? [] : {};
      cur = cur[step] as Record<string | number, unknown>;
    });
  }
  const shown = (path: Step[]) => path.reduce<string>((p, s) => (typeof s === 'number' ? `${p}[${s}]` : p ? `${p}.${s}` : s), '');

  test('[] / [7] / "x" / 7 at each such path of each kind is a 422 naming that field', async () => {
    const { applyDefaults, validate } = await import('../../control-plane/api/validation.ts');
    const { resources } = await import('../../control-plane/api/resources.ts');
    let checked = 0;
    for (const r of resources) {
      for (const { path, shape } of shapedPaths(r.schema)) {
        const wrong = shape === 'object' ? [[], [7], 'x', 7, true] : [{}, { a: 1 }, 'x', 7];
        for (const value of wrong) {
          const obj = { apiVersion: r.group ? `${r.group}/${r.version}` : r.version, kind: r.kind, metadata: { name: 'walk' } } as KubeObject;
          setAt(obj as unknown as Record<string, unknown>, path, value);
          const field = shown(path);
          assert.throws(() => { applyDefaults(r, obj); validate(r, obj); }, (err: { code?: number; details?: { causes?: { field?: string }[] } }) => {
            assert.equal(err.code, 422, `${r.kind} ${field}=${JSON.stringify(value)}`);
            assert.ok(err.details?.causes?.some((c) => c.field === field), `${r.kind} ${field}=${JSON.stringify(value)}: ${JSON.stringify(err.details?.causes)}`);
            return true;
          }, `${r.kind} ${field}=${JSON.stringify(value)} was accepted`);
          checked++;
        }
      }
    }
    assert.ok(checked > 300, `only ${checked} cases: the walk found too few fields`);
  });
});
