// Fixtures for the Endpoints and EndpointSlice controller tests: pods, Services and nodes as
// the informers hold them, an informer the test drives, and a client that records writes.
import type { KubeObject } from '../../control-plane/api/meta.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import type { NodeObject, ServiceObject } from '../../control-plane/controllers/endpoints.ts';
import type { PodObject } from '../../control-plane/controllers/pod-template.ts';
import { FakeInformer, makeNode } from '../scheduler/fixtures.ts';

export class Informer<T extends KubeObject> extends FakeInformer<T> {
  waitForSync(): Promise<void> { return Promise.resolve(); }
}

export interface PodFixture {
  ip?: string; node?: string; ready?: boolean; labels?: Record<string, string>; deleting?: boolean; phase?: 'Running' | 'Succeeded' | 'Failed';
  ports?: { name?: string; containerPort: number; protocol?: 'TCP' | 'UDP' }[]; namespace?: string;
}

export function pod(name: string, f: PodFixture = {}): PodObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: f.namespace ?? 'default', uid: `uid-${name}`, resourceVersion: '3', labels: f.labels ?? { app: 'web' },
      ...(f.deleting && { deletionTimestamp: '2030-01-01T00:00:00Z' }),
    },
    spec: { nodeName: f.node ?? 'n1', containers: [{ name: 'c', image: 'nginx', ...(f.ports && { ports: f.ports }) }] },
    status: {
      phase: f.phase ?? 'Running',
      ...(f.ip !== '' && { podIP: f.ip ?? `10.42.0.${name.length + name.charCodeAt(name.length - 1) % 200}` }),
      conditions: [{ type: 'Ready', status: f.ready === false ? 'False' : 'True' }],
    },
  };
}

export function service(name: string, spec: Partial<ServiceObject['spec']> = {}, labels?: Record<string, string>): ServiceObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: 'default', uid: `svc-uid-${name}`, resourceVersion: '2', ...(labels && { labels }) },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }], clusterIP: '10.43.0.10', ...spec },
  };
}

export const node = (name: string, ready: 'True' | 'False' | 'Unknown' = 'True', labels: Record<string, string> = {}): NodeObject =>
  ({ ...makeNode(name, { ready, labels }), metadata: { ...makeNode(name, { labels }).metadata, resourceVersion: '1' } });

export interface Write { verb: string; name?: string; body?: KubeObject }

/** Records writes; created and updated objects come back with a new resourceVersion, as from the server. */
export function fakeClient() {
  const writes: Write[] = [];
  let rv = 100;
  let n = 0;
  const stamp = (obj: KubeObject) => ({ ...structuredClone(obj), metadata: { ...structuredClone(obj.metadata), resourceVersion: String(++rv) } });
  const client = {
    async create(_r: unknown, _ns: string, obj: KubeObject) {
      writes.push({ verb: 'create', name: obj.metadata.name ?? obj.metadata.generateName, body: obj });
      const named = obj.metadata.name ? obj : { ...obj, metadata: { ...obj.metadata, name: `${obj.metadata.generateName}${++n}`, uid: `slice-uid-${n}` } };
      return stamp(named);
    },
    async update(_r: unknown, obj: KubeObject) { writes.push({ verb: 'update', name: obj.metadata.name!, body: obj }); return stamp(obj); },
    async delete(_r: unknown, _ns: string, name: string) { writes.push({ verb: 'delete', name }); return {}; },
  };
  return { client: client as unknown as KubeClient, writes };
}

/** Takes every queued key, as workers would, so a test sees only what comes after. */
export async function drain(queue: { length: number; get(): Promise<string | undefined>; done(key: string): void }): Promise<void> {
  while (queue.length > 0) queue.done((await queue.get())!);
}

