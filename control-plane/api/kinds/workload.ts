// What Deployment and ReplicaSet share: a selector over a pod template, its defaults and checks,
// and the wide columns that describe the template.
import { formatSelector, fromLabelSelector, matches } from '../labels.ts';
import type { PodSpec } from '../core.ts';
import type { KubeObject, LabelSelector } from '../meta.ts';
import { labelErrors, type Invalid } from './checks.ts';
import { none, wide } from './columns.ts';
import { podSpecDefaults, podSpecErrors } from './pod-spec.ts';

export const templateDefaults = (obj: KubeObject): void =>
  podSpecDefaults((obj.spec as { template?: { spec?: unknown } } | undefined)?.template?.spec);

/** The selector selects its own template's pods, and the template is a valid pod. */
export function templateErrors(kind: string, obj: KubeObject, invalid: Invalid): void {
  const spec = obj.spec as Record<string, unknown> | undefined;
  const selector = spec?.selector as LabelSelector | undefined;
  const template = spec?.template as { metadata?: { labels?: Record<string, string> }; spec?: unknown } | undefined;
  const reqs = fromLabelSelector(selector);
  labelErrors(selector?.matchLabels, 'spec.selector.matchLabels', invalid);
  if (reqs.length === 0) invalid('spec.selector', `Invalid value: empty selector is invalid for ${kind.toLowerCase()}`);
  else if (template && !matches(reqs, template.metadata?.labels)) {
    invalid('spec.template.metadata.labels', 'Invalid value: `selector` does not match template `labels`');
  }
  if (template) {
    labelErrors(template.metadata?.labels, 'spec.template.metadata.labels', invalid);
    podSpecErrors(template.spec as PodSpec, 'spec.template.spec', invalid);
  }
}

interface WorkloadView {
  spec?: { replicas?: number; selector?: Parameters<typeof fromLabelSelector>[0]; template?: { spec?: { containers?: { name: string; image?: string }[] } } };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
}
export const workload = (o: KubeObject) => o as unknown as WorkloadView;
export const desiredReplicas = (o: KubeObject) => workload(o).spec?.replicas ?? 1;

/** CONTAINERS, IMAGES and SELECTOR, which `-o wide` adds for both kinds. */
export const templateColumns = [
  wide('Containers', (o) => none(workload(o).spec?.template?.spec?.containers?.map((c) => c.name).join(','))),
  wide('Images', (o) => none(workload(o).spec?.template?.spec?.containers?.map((c) => c.image ?? '').join(','))),
  wide('Selector', (o) => none(formatSelector(fromLabelSelector(workload(o).spec?.selector)))),
];
