// Node: registered by its agent with the status it measured; its pod CIDR, once set, is fixed.
import { InvalidError } from '../errors.ts';
import { Node } from '../core.ts';
import { isIPv4Cidr } from '../ip.ts';
import type { Condition, KubeObject } from '../meta.ts';
import { isQuantity, quantityValue } from '../quantity.ts';
import { labelValueError, qualifiedNameError, type Invalid } from './checks.ts';
import { ageCol, col, nameCol, none, wide, type PrinterColumn } from './columns.ts';
import { resource, type KindStrategy } from './strategy.ts';

function nodeErrors(node: Node, invalid: Invalid): void {
  const spec = node.spec;
  const taints = new Set<string>();
  (spec?.taints ?? []).forEach((t, i) => {
    const keyErr = qualifiedNameError(t.key);
    if (keyErr) invalid(`spec.taints[${i}].key`, `Invalid value: "${t.key}": ${keyErr}`);
    const valueErr = t.value ? labelValueError(t.value) : undefined;
    if (valueErr) invalid(`spec.taints[${i}].value`, `Invalid value: "${t.value}": ${valueErr}`);
    const id = `${t.key}:${t.effect}`;
    if (taints.has(id)) invalid(`spec.taints[${i}]`, `Duplicate value: "${id}": taints must be unique by key and effect pair`, 'FieldValueDuplicate');
    taints.add(id);
  });
  if (spec?.podCIDR !== undefined && spec.podCIDR !== '' && !isIPv4Cidr(spec.podCIDR)) {
    invalid('spec.podCIDR', `Invalid value: "${spec.podCIDR}": must be a valid CIDR (e.g. 10.42.1.0/24)`);
  }
  (spec?.podCIDRs ?? []).forEach((cidr, i) => {
    if (!isIPv4Cidr(cidr)) invalid(`spec.podCIDRs[${i}]`, `Invalid value: "${cidr}": must be a valid CIDR (e.g. 10.42.1.0/24)`);
  });
  if (spec?.podCIDRs?.length && spec.podCIDR && spec.podCIDRs[0] !== spec.podCIDR) {
    invalid('spec.podCIDRs', 'Invalid value: the first entry must equal spec.podCIDR');
  }
  for (const kind of ['capacity', 'allocatable'] as const) {
    for (const [name, q] of Object.entries(node.status?.[kind] ?? {})) {
      if (!isQuantity(q) || quantityValue(q) < 0) invalid(`status.${kind}[${name}]`, `Invalid value: ${JSON.stringify(q)}: must be a non-negative quantity`);
    }
  }
}

/**
 * A node's pod CIDR is set once (by the node IPAM controller) and then fixed, as in Kubernetes:
 * routes and pod IPs on every board depend on it. An update that leaves it out keeps it.
 */
function checkPodCIDRUpdate(current: KubeObject, next: KubeObject): void {
  type Spec = { podCIDR?: string; podCIDRs?: string[] };
  const was = (current.spec ?? {}) as Spec;
  if (!was.podCIDR) return;
  const now = (next.spec ??= {}) as Spec;
  if (now.podCIDR === undefined || now.podCIDR === '') now.podCIDR = was.podCIDR;
  if (now.podCIDRs === undefined || now.podCIDRs.length === 0) now.podCIDRs = was.podCIDRs ?? [was.podCIDR];
  if (now.podCIDR !== was.podCIDR || now.podCIDRs.join() !== (was.podCIDRs ?? [was.podCIDR]).join()) {
    throw new InvalidError('Node', current.metadata.name!, [{
      reason: 'FieldValueForbidden', field: 'spec.podCIDRs',
      message: 'Forbidden: node updates may not change podCIDR except from "" to valid',
    }]);
  }
}

interface NodeView {
  spec?: { unschedulable?: boolean };
  status?: {
    conditions?: Condition[]; addresses?: { type: string; address: string }[];
    nodeInfo?: { kubeletVersion?: string; osImage?: string; kernelVersion?: string; containerRuntimeVersion?: string };
  };
}

/** Ready, NotReady or Unknown, plus SchedulingDisabled when cordoned: `Ready,SchedulingDisabled`. */
export function nodeStatus(obj: KubeObject): string {
  const node = obj as unknown as NodeView;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  const parts = [!ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

export function nodeRoles(obj: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

const address = (o: KubeObject, type: string) => none((o as unknown as NodeView).status?.addresses?.find((a) => a.type === type)?.address);
const nodeInfo = (o: KubeObject) => (o as unknown as NodeView).status?.nodeInfo ?? {};

const nodeColumns: PrinterColumn[] = [
  nameCol,
  col('Status', nodeStatus, { description: 'The status of the node' }),
  col('Roles', nodeRoles, { description: 'The roles of the node' }),
  ageCol,
  col('Version', (o) => nodeInfo(o).kubeletVersion ?? '', { description: 'Kubelet Version reported by the node.' }),
  wide('Internal-IP', (o) => address(o, 'InternalIP')),
  wide('External-IP', (o) => address(o, 'ExternalIP')),
  wide('OS-Image', (o) => nodeInfo(o).osImage ?? '<unknown>'),
  wide('Kernel-Version', (o) => nodeInfo(o).kernelVersion ?? '<unknown>'),
  wide('Container-Runtime', (o) => nodeInfo(o).containerRuntimeVersion ?? '<unknown>'),
];

export const nodeStrategy: KindStrategy = {
  resource: resource({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], schema: Node, subresources: ['status'] }),
  columns: nodeColumns,
  validate: (obj, invalid) => nodeErrors(obj as unknown as Node, invalid),
  prepareForCreate() { /* an agent registers its Node with the status it measured: keep it */ },
  validateUpdate: checkPodCIDRUpdate,
};
