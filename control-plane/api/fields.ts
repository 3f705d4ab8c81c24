// Field selectors: `metadata.name=web-1,spec.nodeName=pi-2,status.phase!=Running`.
// Only the fields Kubernetes supports for each kind are accepted; others are a 400, as upstream.
import { BadRequestError } from './errors.ts';
import type { KubeObject } from './meta.ts';

export interface FieldRequirement { field: string; value: string; equal: boolean }
export type FieldSelector = FieldRequirement[];

const common = ['metadata.name', 'metadata.namespace'];
const supported: Record<string, string[]> = {
  Pod: [...common, 'spec.nodeName', 'status.phase', 'spec.restartPolicy', 'spec.schedulerName', 'status.podIP'],
  Node: [...common, 'spec.unschedulable'],
  Event: [...common, 'involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name',
    'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion',
    'involvedObject.fieldPath', 'reason', 'source', 'type', 'reportingComponent'],
  Namespace: [...common, 'status.phase'],
};

export function parseFieldSelector(text: string | undefined, kind: string): FieldSelector {
  if (!text || !text.trim()) return [];
  const allowed = supported[kind] ?? common;
  return text.split(',').map((term) => term.trim()).filter(Boolean).map((term) => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new BadRequestError(`invalid selector: '${text}'; can't understand '${term}'`);
    const field = m[1]!;
    if (!allowed.includes(field)) {
      throw new BadRequestError(`"${field}" is not a known field selector: only "${allowed.join('", "')}"`);
    }
    return { field, value: m[3]!, equal: m[2] !== '!=' };
  });
}

/** The value Kubernetes compares for a field; absent fields compare as the empty string. */
export function fieldValue(obj: KubeObject, field: string): string {
  if (field === 'source') {
    const source = (obj as { source?: { component?: string } }).source;
    return source?.component ?? '';
  }
  let value: unknown = obj;
  for (const part of field.split('.')) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<string, unknown>)[part];
  }
  if (value === undefined || value === null) return '';
  return String(value);
}

export function matchesFields(selector: FieldSelector, obj: KubeObject): boolean {
  return selector.every((r) => (fieldValue(obj, r.field) === r.value) === r.equal);
}
