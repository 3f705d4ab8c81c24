// Objects the CLI and kubectl tests create directly, so they do not depend on the controllers
// or the scheduler: a pod bound to a node through the binding subresource, as the scheduler binds.
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import { eventually } from '../support/server.ts';

export const pods = resourceFor('', 'pods')!;
export const nodes = resourceFor('', 'nodes')!;
export const deployments = resourceFor('apps', 'deployments')!;
export const replicaSets = resourceFor('apps', 'replicasets')!;
export const events = resourceFor('', 'events')!;

export function podObject(name: string, labels: Record<string, string> = {}, image = 'nginx:1.25'): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [{ name: 'main', image }] } };
}

/** Creates a pod, binds it to `node`, and waits until the (hollow) node reports it Running. */
export async function runningPod(client: KubeClient, namespace: string, name: string, node: string, labels: Record<string, string> = {}): Promise<KubeObject> {
  await client.create(pods, namespace, podObject(name, labels));
  await client.request('POST', `/api/v1/namespaces/${namespace}/pods/${name}/binding`,
    { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: node } });
  return eventually(async () => {
    const pod = await client.get(pods, namespace, name);
    return (pod.status as { phase?: string } | undefined)?.phase === 'Running' && pod;
  }, 15_000, `pod ${name} running`);
}

/** An Event about an object, as a controller records one. */
export function eventAbout(obj: KubeObject, reason: string, message: string, type = 'Normal'): KubeObject {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    apiVersion: 'v1', kind: 'Event',
    metadata: { generateName: `${obj.metadata.name}.`, namespace: obj.metadata.namespace ?? 'default' },
    involvedObject: { kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, apiVersion: obj.apiVersion },
    reason, message, type, count: 1, firstTimestamp: now, lastTimestamp: now, source: { component: 'labkube-test' },
  };
}
