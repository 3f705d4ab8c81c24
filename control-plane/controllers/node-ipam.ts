// The node IPAM controller (Kubernetes' range allocator): gives every Node a pod CIDR, a /24 out
// of the cluster CIDR (10.42.0.0/16 by default, as k3s), written once to spec.podCIDR and
// spec.podCIDRs. The agent builds its pod bridge from it and routes to the other nodes' CIDRs.
//  - The taken set is rebuilt from the Nodes at start (the cache's initial list marks every
//    CIDR already assigned before any allocation runs), so a restart never hands one out twice.
//  - A CIDR already set on a Node is never changed, by this controller or its retries: the patch
//    carries the resourceVersion it was decided on.
//  - Deleting a Node frees its CIDR. Allocation goes round-robin from the last one given, as
//    upstream, so a CIDR just freed is not handed out again at once.
//  - When the range is exhausted the Node gets a CIDRNotAvailable Event and waits for a Node to go.
import type { Logger } from 'pino';
import { isConflict, isNotFound } from '../api/errors.ts';
import { formatIPv4, parseCidr, type Cidr } from '../api/ip.ts';
import { resourceFor } from '../api/resources.ts';
import type { KubeClient } from '../client/client.ts';
import { WorkQueue } from '../client/workqueue.ts';
import type { NodeObject } from './endpoints.ts';
import type { InformerLike, Recorder } from './pod-template.ts';
import { runWorkers, type SyncResult } from './runner.ts';

export const reasonCIDRNotAvailable = 'CIDRNotAvailable';

/** k3s's default cluster CIDR. */
export const defaultClusterCidr = '10.42.0.0/16';
/** Kubernetes' default IPv4 node mask: 254 pod addresses per node. */
export const defaultNodeCidrMaskSize = 24;
// Kubernetes refuses more than 2^16 node CIDRs: the taken set is a bitmap that big.
const maxCidrBits = 16;

type NodeSpec = NonNullable<NodeObject['spec']>;

/** The node CIDRs of a cluster CIDR and which are taken (Kubernetes' CidrSet). */
export class CidrSet {
  readonly cluster: Cidr;
  readonly count: number;
  private readonly used = new Set<number>();
  private nextCandidate = 0;

  constructor(clusterCidr: string, readonly nodeMaskSize: number) {
    const cluster = parseCidr(clusterCidr);
    if (!cluster) throw new Error(`cluster CIDR "${clusterCidr}" is not an IPv4 CIDR`);
    if (nodeMaskSize < cluster.bits || nodeMaskSize > 32) throw new Error(`node CIDR mask /${nodeMaskSize} must be between /${cluster.bits} and /32`);
    if (nodeMaskSize - cluster.bits > maxCidrBits) throw new Error(`node CIDR mask /${nodeMaskSize} cuts ${clusterCidr} into more than 2^${maxCidrBits} CIDRs`);
    this.cluster = cluster;
    this.count = 2 ** (nodeMaskSize - cluster.bits);
  }

  get free(): number { return this.count - this.used.size; }

  /** The next free CIDR, round-robin; undefined when all are taken. */
  allocateNext(): string | undefined {
    for (let i = 0; i < this.count; i++) {
      const index = (this.nextCandidate + i) % this.count;
      if (this.used.has(index)) continue;
      this.used.add(index);
      this.nextCandidate = (index + 1) % this.count;
      return this.format(index);
    }
    return undefined;
  }

  /** Marks a CIDR (of any size) as taken; false when it is not inside the cluster CIDR. */
  occupy(cidr: string): boolean {
    const range = this.indexes(cidr);
    if (!range) return false;
    for (let i = range.first; i <= range.last; i++) this.used.add(i);
    return true;
  }

  release(cidr: string): void {
    const range = this.indexes(cidr);
    if (!range) return;
    for (let i = range.first; i <= range.last; i++) this.used.delete(i);
  }

  private format(index: number): string {
    return `${formatIPv4(this.cluster.base + index * 2 ** (32 - this.nodeMaskSize))}/${this.nodeMaskSize}`;
  }

  private indexes(cidr: string): { first: number; last: number } | undefined {
    const c = parseCidr(cidr);
    if (!c || c.base < this.cluster.base || c.base + c.size > this.cluster.base + this.cluster.size) return undefined;
    const step = 2 ** (32 - this.nodeMaskSize);
    const first = Math.floor((c.base - this.cluster.base) / step);
    return { first, last: Math.max(first, Math.ceil((c.base + c.size - this.cluster.base) / step) - 1) };
  }
}

export interface NodeIpamOptions {
  client: Pick<KubeClient, 'get' | 'patch'>;
  nodes: InformerLike<NodeObject>;
  recorder: Recorder;
  clusterCidr?: string;
  nodeCidrMaskSize?: number;
  logger?: Logger;
}

const nodes = resourceFor('', 'nodes')!;
const podCidrsOf = (node: NodeObject): string[] => {
  const spec = (node.spec ?? {}) as NodeSpec & { podCIDRs?: string[] };
  return spec.podCIDRs?.length ? spec.podCIDRs : spec.podCIDR ? [spec.podCIDR] : [];
};

export class NodeIpamController {
  readonly queue = new WorkQueue();
  readonly cidrs: CidrSet;
  /** Node name -> what it holds (as far as this controller knows): freed when the Node goes. */
  private readonly assigned = new Map<string, { uid?: string; cidrs: string[] }>();

  constructor(private readonly options: NodeIpamOptions) {
    this.cidrs = new CidrSet(options.clusterCidr ?? defaultClusterCidr, options.nodeCidrMaskSize ?? defaultNodeCidrMaskSize);
    options.nodes.on({
      add: (node) => this.observe(node),
      update: (_old, node) => this.observe(node),
      delete: (node) => this.forgetNode(node),
    });
  }

  async run(workers = 1): Promise<void> {
    await this.options.nodes.waitForSync();
    await runWorkers(this.queue, workers, (name) => this.sync(name), this.options.logger);
  }

  stop(): void { this.queue.shutDown(); }

  /** Gives the Node a pod CIDR unless it has one. */
  async sync(name: string): Promise<SyncResult> {
    let node = this.options.nodes.get(name);
    if (!node) return {};
    for (let attempt = 0; ; attempt++) {
      if (podCidrsOf(node).length > 0) { this.observe(node); return {}; }
      const cidr = this.cidrFor(node);
      if (!cidr) {
        this.options.recorder.record(node, 'Normal', reasonCIDRNotAvailable, `Node ${name} status is now: ${reasonCIDRNotAvailable}`);
        this.options.logger?.warn({ node: name, clusterCidr: `${formatIPv4(this.cidrs.cluster.base)}/${this.cidrs.cluster.bits}` }, 'no pod CIDR left for node');
        return {}; // a Node's deletion frees one and retries the Nodes still waiting
      }
      try {
        const patched = await this.options.client.patch<NodeObject>(nodes, undefined, name, {
          metadata: { resourceVersion: node.metadata.resourceVersion },
          spec: { podCIDR: cidr, podCIDRs: [cidr] },
        });
        this.observe(patched);
        this.options.logger?.info({ node: name, podCIDR: cidr }, 'assigned pod CIDR');
        return {};
      } catch (err) {
        if (isNotFound(err)) { this.forgetNode(node); return {}; }
        // The Node changed since the cache saw it (often only its status): decide again on the live one.
        if (!isConflict(err) || attempt >= 2) throw err;
      }
      try {
        node = await this.options.client.get<NodeObject>(nodes, undefined, name);
      } catch (err) {
        if (isNotFound(err)) { this.forgetNode(node); return {}; }
        throw err;
      }
    }
  }

  /** The CIDR this controller already chose for the Node, or a new one. */
  private cidrFor(node: NodeObject): string | undefined {
    const held = this.assigned.get(node.metadata.name!);
    if (held && held.uid === node.metadata.uid && held.cidrs.length > 0) return held.cidrs[0];
    const cidr = this.cidrs.allocateNext();
    if (cidr) this.assigned.set(node.metadata.name!, { uid: node.metadata.uid, cidrs: [cidr] });
    return cidr;
  }

  /** Takes note of a Node's CIDRs (set by us or anyone), or queues it for one. */
  private observe(node: NodeObject): void {
    const name = node.metadata.name!;
    const cidrs = podCidrsOf(node);
    if (cidrs.length === 0) {
      // A new Node of the same name (deleted and registered again) does not inherit a choice.
      const held = this.assigned.get(name);
      if (held && held.uid !== node.metadata.uid) this.forgetNode(node);
      this.queue.add(name);
      return;
    }
    const held = this.assigned.get(name);
    for (const old of held?.cidrs ?? []) if (!cidrs.includes(old)) this.cidrs.release(old); // chosen but someone else's won
    for (const cidr of cidrs) {
      if (!this.cidrs.occupy(cidr)) this.options.logger?.warn({ node: name, podCIDR: cidr }, 'node pod CIDR is outside the cluster CIDR');
    }
    this.assigned.set(name, { uid: node.metadata.uid, cidrs });
  }

  private forgetNode(node: NodeObject): void {
    const name = node.metadata.name!;
    const held = this.assigned.get(name);
    for (const cidr of held?.cidrs ?? podCidrsOf(node)) this.cidrs.release(cidr);
    this.assigned.delete(name);
    // A freed CIDR may be what a waiting Node needs.
    for (const other of this.options.nodes.list()) {
      if (other.metadata.name !== name && podCidrsOf(other).length === 0) this.queue.add(other.metadata.name!);
    }
  }
}
