// The first heartbeat of a restarted agent, sent before the agent itself is loaded.
//
// The control plane gives up on a silent node after 6 s and evicts its pods 2 s later, and an
// agent restarted by its service manager has lost some of that before it starts. Loading the
// whole agent (the API types, the Docker client and its gRPC stack, systeminformation) takes a
// board seconds of CPU, so main.ts sends this first: one Lease renewal with the credential on
// disk, using only this file, the API client and node's own modules. The LeaseRenewer
// (lease.ts) renews from then on, the same way.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeLeaseNamespace } from '../control-plane/api/well-known.ts';
import { AgentClient } from './api-client.ts';

/** MicroTime, as Kubernetes writes renewTime. */
const microTime = (d: Date) => d.toISOString().replace('Z', '000Z');

export const leasePath = (nodeName: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${nodeLeaseNamespace}/leases/${encodeURIComponent(nodeName)}`;

/** What each renewal writes. Kubernetes' lease duration is 40 s for a 10 s interval: four missed renewals. */
export function leaseSpec(nodeName: string, intervalMs: number, now: Date) {
  return { holderIdentity: nodeName, leaseDurationSeconds: Math.ceil((intervalMs * 4) / 1000), renewTime: microTime(now) };
}

export interface FirstHeartbeatOptions {
  server: string; ca: string; dataDir: string; nodeName: string; leaseIntervalMs: number;
  /** Gives up after this long: an unreachable control plane must not hold up the pods of the checkpoint. */
  timeoutMs: number;
}

export type FirstHeartbeat = { renewed: true } | { renewed: false; why: string };

/** One Lease renewal with the saved credential. Never throws; a first start (no credential yet) sends nothing. */
export async function sendFirstHeartbeat(o: FirstHeartbeatOptions): Promise<FirstHeartbeat> {
  const tokenPath = join(o.dataDir, 'node-token');
  if (!existsSync(tokenPath)) return { renewed: false, why: 'no node credential yet' };
  const client = new AgentClient({ server: o.server, ca: o.ca, token: readFileSync(tokenPath, 'utf8').trim(), userAgent: `labkube-agent/${o.nodeName}`, requestTimeoutMs: o.timeoutMs });
  try {
    await client.request('PATCH', leasePath(o.nodeName), { spec: leaseSpec(o.nodeName, o.leaseIntervalMs, new Date()) }, 'application/merge-patch+json');
    return { renewed: true };
  } catch (err) {
    // A missing Lease (a new control plane), a revoked credential, no answer: the agent deals with each.
    return { renewed: false, why: (err as Error).message };
  } finally {
    client.close();
  }
}
