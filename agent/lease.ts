// The node's heartbeat: renew its Lease in kube-node-lease on a fixed period. Cheap on purpose
// (one small in-memory write); the Node object itself is written only when its status changes.
import type { Logger } from 'pino';
import { isConflict, isNotFound } from '../control-plane/api/errors.ts';
import type { Lease } from '../control-plane/api/coordination.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { nodeLeaseNamespace } from '../control-plane/api/well-known.ts';
import type { KubeClient } from '../control-plane/client/client.ts';

const leases = resourceFor('coordination.k8s.io', 'leases')!;
/** MicroTime, as Kubernetes writes renewTime. */
const microTime = (d = new Date()) => d.toISOString().replace('Z', '000Z');

export interface LeaseRenewerOptions {
  client: KubeClient; nodeName: string; intervalMs: number; logger?: Logger;
  onRenewed?: () => void;
  /** A renewal failed (the next is tried one interval later, whatever the error): the agent's first sign of a lost control plane or a revoked credential. */
  onFailed?: (err: unknown) => void;
}

export class LeaseRenewer {
  private lease?: Lease & KubeObject;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: LeaseRenewerOptions) {}

  start(): this { void this.tick(); return this; }
  stop(): void { this.stopped = true; clearTimeout(this.timer); }

  async renew(): Promise<void> {
    const { client, nodeName, intervalMs } = this.o;
    // Kubernetes' lease duration is 40 s for a 10 s renew interval: four missed renewals.
    const spec = { holderIdentity: nodeName, leaseDurationSeconds: Math.ceil((intervalMs * 4) / 1000), renewTime: microTime() };
    try {
      this.lease ??= await client.get<Lease & KubeObject>(leases, nodeLeaseNamespace, nodeName);
      this.lease = await client.update<Lease & KubeObject>(leases, { ...this.lease, spec: { ...this.lease.spec, ...spec } });
    } catch (err) {
      this.lease = undefined;
      if (isConflict(err)) return this.renew();
      if (!isNotFound(err)) throw err;
      this.lease = await client.create<Lease & KubeObject>(leases, nodeLeaseNamespace, {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: nodeName, namespace: nodeLeaseNamespace }, spec: { ...spec, acquireTime: spec.renewTime },
      });
    }
    this.o.onRenewed?.();
  }

  private async tick(): Promise<void> {
    try {
      await this.renew();
    } catch (err) {
      this.o.logger?.debug({ err: (err as Error).message }, 'lease renewal failed');
      this.o.onFailed?.(err);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.o.intervalMs);
  }
}
