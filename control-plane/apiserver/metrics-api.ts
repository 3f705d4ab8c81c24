// metrics.k8s.io/v1beta1, NodeMetrics and PodMetrics, served from memory as metrics-server serves
// them, so stock `kubectl top nodes|pods` works. labkube has no metrics-server and no scraping:
// each agent pushes its last sample (api/node-usage.ts) and this file keeps it, per node, in
// memory only. Usage changes every sample; written to the store it would be the biggest wear
// on the control plane's SD card, and no reader needs it after a restart.
//
// Who may do what (decided here: authorizeRoute in auth.ts has already refused the join token):
//  - Push (PUT /labkube/v1/nodes/NAME/metrics): a node credential for its own NAME only, and
//    only figures of pods bound to it (others are dropped and named in the answer); the admin for
//    any node. Nothing else: figures come from the agent that measured them.
//  - Read: every authenticated user but a node. Kubernetes' system:node role grants nothing in
//    metrics.k8s.io, and an agent never needs another board's figures.
//
// A report is forgotten after three missed pushes: a board that stops pushing (unplugged, agent
// stopped) disappears from `kubectl top` within a minute instead of showing old figures as live.
// Reads also drop what no longer exists: a deleted Node, a pod deleted or bound elsewhere.
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Node, Pod } from '../api/core.ts';
import { BadRequestError, ForbiddenError, MethodNotAllowedError, NotFoundError } from '../api/errors.ts';
import { matchesFields, parseFieldSelector } from '../api/fields.ts';
import { matches, parseLabelSelector } from '../api/labels.ts';
import type { KubeObject } from '../api/meta.ts';
import {
  UsageReport, cpuTemperatureAnnotation, durationString, metricsApiVersion, usageOf,
  type MetricsList, type NodeMetrics, type PodMetrics, type PodUsage, type UsageReportAnswer,
} from '../api/node-usage.ts';
import { timestamp } from '../api/objects.ts';
import { resourceFor } from '../api/resources.ts';
import type { User } from './auth.ts';
import { parseBody } from './body.ts';
import { boolParam, param, type Query } from './query.ts';
import { keyFor } from './registry.ts';

const nodes = resourceFor('', 'nodes')!;
const pods = resourceFor('', 'pods')!;
const checkReport = TypeCompiler.Compile(UsageReport);

/** Kubernetes reads "missed three heartbeats" as dead; the same for pushes. */
const defaultMissedPushes = 3;

export interface MetricsApiOptions {
  /** Milliseconds since the epoch; the server's clock, never the board's (a Pi has no RTC). */
  clock?: () => number;
  /** Pushes a node may miss before its figures are forgotten. */
  missedPushes?: number;
}

/** A node's last report as kept: received when (server clock), and its pods by namespace/name. */
export interface StoredReport { nodeName: string; receivedAt: number; report: UsageReport; pods: Map<string, PodUsage> }

/** The last usage report of each node, in memory, forgotten after `missedPushes` missed pushes. */
export class UsageReports {
  private readonly byNode = new Map<string, StoredReport>();

  constructor(private readonly clock: () => number = Date.now, private readonly missedPushes = defaultMissedPushes) {}

  put(nodeName: string, report: UsageReport, pods: PodUsage[]): void {
    this.byNode.set(nodeName, { nodeName, receivedAt: this.clock(), report, pods: new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p])) });
  }

  /** The node's report while it is fresh. */
  get(nodeName: string): StoredReport | undefined {
    const stored = this.byNode.get(nodeName);
    if (stored && this.expired(stored)) { this.byNode.delete(nodeName); return undefined; }
    return stored;
  }

  /** Every fresh report; stale ones are dropped on the way, so memory follows the live nodes. */
  fresh(): StoredReport[] {
    for (const stored of this.byNode.values()) if (this.expired(stored)) this.byNode.delete(stored.nodeName);
    return [...this.byNode.values()];
  }

  delete(nodeName: string): void { this.byNode.delete(nodeName); }

  /**
   * Stale once `missedPushes` pushes are overdue, plus half an interval for a push that is late
   * rather than missed (a loaded board, a slow network).
   */
  private expired(stored: StoredReport): boolean {
    const intervalMs = stored.report.intervalSeconds * 1000;
    return this.clock() - stored.receivedAt > this.missedPushes * intervalMs + intervalMs / 2;
  }
}

declare module 'fastify' {
  interface FastifyInstance { usageReports: UsageReports }
}

const base = '/apis/metrics.k8s.io/v1beta1';

export function registerMetricsApi(app: FastifyInstance, options: MetricsApiOptions = {}): void {
  const clock = options.clock ?? Date.now;
  const reports = new UsageReports(clock, options.missedPushes);
  app.decorate('usageReports', reports);
  const store = () => app.registry.store;
  const getNode = (name: string) => store().get(keyFor(nodes, undefined, name)) as (Node & KubeObject) | undefined;
  const getPod = (namespace: string, name: string) => store().get(keyFor(pods, namespace, name)) as (Pod & KubeObject) | undefined;

  app.put<{ Params: { name: string } }>('/labkube/v1/nodes/:name/metrics', async (req) => {
    const nodeName = req.params.name;
    const user = req.user!;
    if (user.kind === 'node' && user.nodeName !== nodeName) {
      throw new ForbiddenError(`node "${user.nodeName}" may only report its own usage, not that of "${nodeName}"`);
    }
    if (user.kind !== 'node' && user.kind !== 'admin') {
      throw new ForbiddenError(`forbidden: User "${user.name}" cannot report usage: only a node's agent does`);
    }
    if (!getNode(nodeName)) throw NotFoundError.of('nodes', nodeName);
    const report = parseBody(req.headers['content-type'], req.body as string | undefined);
    if (!checkReport.Check(report)) {
      const first = checkReport.Errors(report).First();
      throw new BadRequestError(`invalid usage report${first ? `: ${first.path || '/'} ${first.message}` : ''}`);
    }
    const kept: PodUsage[] = [];
    const ignored: string[] = [];
    for (const p of report.pods) {
      const pod = getPod(p.namespace, p.name);
      // Only pods bound to this node, and the same pod (not an older one of the same name).
      if (pod?.spec.nodeName === nodeName && pod.metadata.uid === p.uid) kept.push(p);
      else ignored.push(`${p.namespace}/${p.name}`);
    }
    reports.put(nodeName, report, kept);
    const answer: UsageReportAnswer = { kind: 'UsageReportAnswer', acceptedPods: kept.length, ignoredPods: ignored };
    return answer;
  });

  const stamp = (stored: StoredReport) => ({ timestamp: timestamp(new Date(stored.receivedAt)), window: durationString(stored.report.windowSeconds) });

  const nodeMetrics = (node: Node & KubeObject, stored: StoredReport): NodeMetrics => {
    const { node: usage } = stored.report;
    const annotations = usage.cpuTemperature !== undefined ? { [cpuTemperatureAnnotation]: usage.cpuTemperature.toFixed(1) } : undefined;
    return {
      kind: 'NodeMetrics', apiVersion: metricsApiVersion,
      metadata: { name: node.metadata.name!, creationTimestamp: timestamp(new Date(clock())), ...(node.metadata.labels && { labels: node.metadata.labels }), ...(annotations && { annotations }) },
      ...stamp(stored), usage: usageOf(usage.cpuNanoCores, usage.memoryBytes),
    };
  };

  const podMetrics = (pod: Pod & KubeObject, usage: PodUsage, stored: StoredReport): PodMetrics => ({
    kind: 'PodMetrics', apiVersion: metricsApiVersion,
    metadata: { name: pod.metadata.name!, namespace: pod.metadata.namespace!, creationTimestamp: timestamp(new Date(clock())), ...(pod.metadata.labels && { labels: pod.metadata.labels }) },
    ...stamp(stored), containers: usage.containers.map((c) => ({ name: c.name, usage: usageOf(c.cpuNanoCores, c.memoryBytes) })),
  });

  /** The pod's figures, if its node's report is fresh and it is still the pod that node runs. */
  const podEntry = (pod: Pod & KubeObject): { usage: PodUsage; stored: StoredReport } | undefined => {
    const nodeName = pod.spec.nodeName;
    const stored = nodeName ? reports.get(nodeName) : undefined;
    const usage = stored?.pods.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
    return stored && usage && usage.uid === pod.metadata.uid ? { usage, stored } : undefined;
  };

  const list = <T>(kind: string, items: T[]): MetricsList<T> => ({ kind, apiVersion: metricsApiVersion, metadata: {}, items });

  app.get(`${base}/nodes`, async (req) => {
    readOnly(req);
    const { labels, fields } = selectors(req.query as Query, 'Node');
    const items: NodeMetrics[] = [];
    for (const stored of reports.fresh()) {
      const node = getNode(stored.nodeName);
      if (!node) { reports.delete(stored.nodeName); continue; } // deleted: its figures go with it
      if (matches(labels, node.metadata.labels ?? {}) && matchesFields(fields, node)) items.push(nodeMetrics(node, stored));
    }
    items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return list('NodeMetricsList', items);
  });

  app.get<{ Params: { name: string } }>(`${base}/nodes/:name`, async (req) => {
    readOnly(req);
    const node = getNode(req.params.name);
    const stored = node && reports.get(req.params.name);
    if (!node || !stored) throw notFound('nodemetrics', req.params.name);
    return nodeMetrics(node, stored);
  });

  const listPods = (req: FastifyRequest, namespace: string | undefined) => {
    readOnly(req);
    const { labels, fields } = selectors(req.query as Query, 'Pod');
    const items: PodMetrics[] = [];
    for (const stored of reports.fresh()) {
      for (const usage of stored.pods.values()) {
        if (namespace !== undefined && usage.namespace !== namespace) continue;
        const pod = getPod(usage.namespace, usage.name);
        const entry = pod && podEntry(pod);
        if (!pod || entry?.stored !== stored) continue;
        if (matches(labels, pod.metadata.labels ?? {}) && matchesFields(fields, pod)) items.push(podMetrics(pod, entry.usage, stored));
      }
    }
    items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
    return list('PodMetricsList', items);
  };

  app.get(`${base}/pods`, async (req) => listPods(req, undefined));
  app.get<{ Params: { namespace: string } }>(`${base}/namespaces/:namespace/pods`, async (req) => listPods(req, req.params.namespace));
  app.get<{ Params: { namespace: string; name: string } }>(`${base}/namespaces/:namespace/pods/:name`, async (req) => {
    readOnly(req);
    const { namespace, name } = req.params;
    const pod = getPod(namespace, name);
    const entry = pod && podEntry(pod);
    if (!pod || !entry) throw notFound('podmetrics', `${namespace}/${name}`);
    return podMetrics(pod, entry.usage, entry.stored);
  });
}

/** Reads are for people and their tools; metrics-server serves no watch either. */
function readOnly(req: FastifyRequest): void {
  const user = req.user as User;
  if (user.kind === 'node') {
    throw new ForbiddenError(`forbidden: User "${user.name}" cannot read resources in API group "metrics.k8s.io": a node only reports its own usage`);
  }
  if (boolParam(req.query as Query, 'watch')) throw new MethodNotAllowedError('the metrics API serves get and list, not watch');
}

function selectors(q: Query, kind: 'Node' | 'Pod') {
  return { labels: parseLabelSelector(param(q, 'labelSelector')), fields: parseFieldSelector(param(q, 'fieldSelector'), kind) };
}

/** As metrics-server words it: `podmetrics.metrics.k8s.io "default/web" not found`. */
function notFound(resource: 'nodemetrics' | 'podmetrics', name: string): NotFoundError {
  return new NotFoundError(`${resource}.metrics.k8s.io "${name}" not found`, { name, group: 'metrics.k8s.io', kind: resource });
}
