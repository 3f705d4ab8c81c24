// Pushes this node's usage to the control plane's metrics API (apiserver/metrics-api.ts): the
// node's CPU, memory and temperature, and each pod container's CPU and working set. The control
// plane keeps the last push in memory only, so a push costs no disk anywhere.
//
// Every 15 s: metrics-server's default resolution (and the HPA's sync period), so `kubectl top`
// is as fresh as on any cluster, while a board spends one small HTTPS request and one cgroup read
// per container every 15 s. CPU is an average over the interval, from cumulative counters
// (usage-sampler.ts), so a longer interval would only make the figures slower, not cheaper to
// get right.
import type { Logger } from 'pino';
import { usageReportPath, type UsageReport } from '../../control-plane/api/node-usage.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import type { Usage } from '../host.ts';
import type { ContainerStatsSource } from './container-stats.ts';
import { UsageSampler } from './usage-sampler.ts';

export const defaultPushIntervalMs = 15_000;

export type NodeUsageSample = Usage & { cpuTemperature?: number };

export interface MetricsPusherOptions {
  client: Pick<KubeClient, 'request'>;
  nodeName: string;
  /** The node's CPU (averaged since the previous call) and memory in use. */
  measureNode: () => Promise<NodeUsageSample>;
  /** Per-container counters; without one, only the node's figures are pushed. */
  stats?: ContainerStatsSource;
  intervalMs?: number;
  logger?: Logger;
  clock?: () => number;
}

export class MetricsPusher {
  private readonly sampler = new UsageSampler();
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastSampleAt?: number;
  private failing = false;

  constructor(private readonly o: MetricsPusherOptions) {
    this.intervalMs = o.intervalMs ?? defaultPushIntervalMs;
    this.clock = o.clock ?? Date.now;
  }

  /** Takes the first readings now (a rate needs two), and pushes one interval later, then every interval. */
  start(): this {
    const startedAt = this.clock();
    void this.sample().catch((err: unknown) => this.o.logger?.debug({ err: (err as Error).message }, 'first usage sample failed'))
      .finally(() => this.schedule(startedAt));
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One round: measure, then PUT the report. Throws when the push fails (the loop logs and carries on). */
  async push(): Promise<UsageReport> {
    const report = await this.sample();
    await this.o.client.request('PUT', usageReportPath(this.o.nodeName), report);
    return report;
  }

  /** Measures the node and its containers; the window is the time since the previous sample. */
  async sample(): Promise<UsageReport> {
    const [node, readings] = await Promise.all([this.o.measureNode(), this.o.stats?.read(this.o.nodeName) ?? Promise.resolve([])]);
    const now = this.clock();
    const windowSeconds = Math.max(0.001, (now - (this.lastSampleAt ?? now - this.intervalMs)) / 1000);
    this.lastSampleAt = now;
    return {
      windowSeconds,
      intervalSeconds: this.intervalMs / 1000,
      node: {
        cpuNanoCores: Math.round(node.cpuCores * 1e9), memoryBytes: Math.round(node.memoryBytes),
        ...(node.cpuTemperature !== undefined && { cpuTemperature: node.cpuTemperature }),
      },
      pods: this.sampler.podUsage(readings),
    };
  }

  /** The next round one interval after `from` (the start of this one): a slow sample does not stretch the period. */
  private schedule(from = this.clock()): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.round(), Math.max(0, from + this.intervalMs - this.clock()));
  }

  private async round(): Promise<void> {
    const startedAt = this.clock();
    try {
      await this.push();
      if (this.failing) this.o.logger?.info('usage pushes to the metrics API work again');
      this.failing = false;
    } catch (err) {
      // The Lease renewal already tells of a lost control plane; one line here, at debug after the first.
      this.o.logger?.[this.failing ? 'debug' : 'info']({ err: (err as Error).message }, 'usage push failed; the next is in one interval');
      this.failing = true;
    }
    this.schedule(startedAt);
  }
}
