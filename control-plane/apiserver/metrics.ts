// Prometheus metrics at /metrics: request latency by verb, resource and code; open watches;
// the store's revision (a steadily rising line is a lab that is writing).
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/types.ts';

export class ApiMetrics {
  readonly registry = new PromRegistry();
  readonly requestDuration = new Histogram({
    name: 'apiserver_request_duration_seconds', help: 'Response latency by verb, resource and HTTP code (watches excluded).',
    labelNames: ['verb', 'resource', 'code'] as const,
    // From 0.5 ms: a local write takes about that long, and the 25 ms p99 target must be visible.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: 'apiserver_request_total', help: 'Requests by verb, resource and HTTP code.',
    labelNames: ['verb', 'resource', 'code'] as const, registers: [this.registry],
  });
  readonly watchers = new Gauge({
    name: 'apiserver_registered_watchers', help: 'Open watch streams by resource.',
    labelNames: ['resource'] as const, registers: [this.registry],
  });

  constructor(store: Store) {
    new Gauge({
      name: 'labkube_store_revision', help: 'The latest revision written to the durable store.',
      registers: [this.registry], collect() { this.set(store.revision()); },
    });
    new Gauge({
      name: 'labkube_store_compacted_revision', help: 'Watches from before this revision get 410 Gone.',
      registers: [this.registry], collect() { this.set(store.compactedRevision()); },
    });
    collectDefaultMetrics({ register: this.registry });
  }
}
