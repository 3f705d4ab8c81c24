// The node's heartbeat: renew its Lease in kube-node-lease on a fixed period. Cheap on purpose
// (one small in-memory write); the Node object itself is written only when its status changes.
import type { Logger } from 'pino';
import { isAlreadyExists, isNotFound } from '../control-plane/api/errors.ts';
import type { Lease } from '../control-plane/api/coordination.ts';
import type { KubeObject } from '../control-plane/api/meta.ts';
import { resourceFor } from '../control-plane/api/resources.ts';
import { nodeLeaseNamespace } from '../control-plane/api/well-known.ts';
import type { KubeClient } from '../control-plane/client/client.ts';
import { leaseSpec } from './first-heartbeat.ts';

const leases = resourceFor('coordination.k8s.io', 'leases')!;
// A control plane that is away costs a few sockets, not one per interval (each waits its deadline).
const maxRenewalsInFlight = 3;
// A failed renewal is retried this soon, doubling up to the interval: a lost packet or a reset
// connection costs a fraction of a second, and a control plane that is down is not hammered.
const retryAfterFailureMs = 250;

export interface LeaseRenewerOptions {
  client: KubeClient; nodeName: string; intervalMs: number; logger?: Logger;
  /**
   * A renewal succeeded. `silentMs` is the time since the one before it succeeded: past the
   * control plane's grace it may have called this node away meanwhile, even though no renewal
   * failed (overlapping renewals: the one that would have failed was overtaken by a newer one).
   */
  onRenewed?: (silentMs: number) => void;
  /** A renewal failed (the next is tried one interval later, whatever the error): the agent's first sign of a lost control plane or a revoked credential. */
  onFailed?: (err: unknown) => void;
  /**
   * The board's clock, for renewTime. It may be far off (a Pi has no real-time clock): the
   * control plane only looks for renewTime to change, and times that with its own clock.
   */
  now?: () => number;
}

export class LeaseRenewer {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private inFlight = 0;
  private failures = 0;
  private lastSuccessAt = 0;
  private readonly now: () => number;

  constructor(private readonly o: LeaseRenewerOptions) { this.now = o.now ?? Date.now; }

  start(): this { this.tick(); return this; }
  stop(): void { this.stopped = true; clearTimeout(this.timer); }

  /**
   * One request per heartbeat: a merge patch of the spec, no read first (the kubelet reads, then
   * updates). A restarted agent's first heartbeat is then one round trip after its connection,
   * and a lab's boards cost the server half the requests. A missing Lease is created.
   */
  async renew(): Promise<void> {
    const { client, nodeName, intervalMs } = this.o;
    const spec = leaseSpec(nodeName, intervalMs, new Date(this.now()));
    try {
      await client.patch<Lease & KubeObject>(leases, nodeLeaseNamespace, nodeName, { spec });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await client.create<Lease & KubeObject>(leases, nodeLeaseNamespace, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: nodeName, namespace: nodeLeaseNamespace }, spec: { ...spec, acquireTime: spec.renewTime },
        });
      } catch (createErr) {
        // Created meanwhile (a second agent of the same name, or a retried request): the next renewal patches it.
        if (!isAlreadyExists(createErr)) throw createErr;
      }
    }
    const previous = this.lastSuccessAt;
    this.lastSuccessAt = Date.now();
    this.o.onRenewed?.(previous ? this.lastSuccessAt - previous : 0);
  }

  /**
   * Renewals overlap rather than queue: the next starts one interval after this one started, even
   * while this one still waits on TCP retransmissions (packet loss) or on its 10 s deadline (a
   * dead connection), and a failed one is tried again after a short pause. The control plane's
   * grace period is three intervals: one slow or failed renewal must not cost two more.
   */
  private tick(): void {
    if (this.stopped) return;
    this.schedule(this.o.intervalMs);
    if (this.inFlight >= maxRenewalsInFlight) return;
    this.inFlight++;
    const startedAt = Date.now();
    this.renew().then(() => {
      this.failures = 0;
    }, (err: unknown) => {
      // A newer renewal already succeeded: this old one's failure says nothing about now.
      if (this.lastSuccessAt > startedAt) return;
      this.o.logger?.debug({ err: (err as Error).message }, 'lease renewal failed');
      this.o.onFailed?.(err);
      this.failures++;
      this.schedule(Math.min(retryAfterFailureMs * 2 ** (this.failures - 1), this.o.intervalMs));
    }).finally(() => { this.inFlight--; });
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), ms);
  }
}
