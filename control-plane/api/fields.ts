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

/**
 * Parses the `fieldSelector` query parameter as k8s.io/apimachinery/pkg/fields/selector.go does:
 * terms split on commas not escaped with a backslash, empty terms skipped (so `,,` selects
 * everything, as in Kubernetes), each term split at its first `!=`, `==` or `=` with nothing
 * trimmed, and the value unescaped (`\,` `\=` `\\`; any other escape, or a bare `,` or `=`, is a
 * 400). `status.phase!=` is valid: the phase is not empty. Fields a kind does not support are a
 * 400, as Kubernetes' field label conversion answers.
 */
export function parseFieldSelector(text: string | undefined, kind: string): FieldSelector {
  if (!text) return [];
  const allowed = supported[kind] ?? common;
  const out: FieldSelector = [];
  for (const term of splitTerms(text).sort()) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (!split) throw new BadRequestError(`invalid selector: '${text}'; can't understand '${term}'`);
    const [field, op, rhs] = split;
    const value = unescapeValue(rhs);
    if (!allowed.includes(field)) {
      throw new BadRequestError(`field label not supported: ${field} (${kind} supports "${allowed.join('", "')}")`);
    }
    out.push({ field, value, equal: op !== '!=' });
  }
  return out;
}

/** Splits on commas that are not escaped; escapes stay in the terms. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (escaped) escaped = false;
    else if (c === '\\') escaped = true;
    else if (c === ',') { terms.push(text.slice(start, i)); start = i + 1; }
  }
  terms.push(text.slice(start));
  return terms;
}

const termOperators = ['!=', '==', '='] as const;

/** Splits a term at the first operator; the left side allows no escapes. */
function splitTerm(term: string): [string, string, string] | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of termOperators) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

function unescapeValue(value: string): string {
  let out = '';
  let escaped = false;
  for (const c of value) {
    if (escaped) {
      if (c !== '\\' && c !== ',' && c !== '=') throw new BadRequestError(`invalid field selector: invalid escape sequence: \\${c}`);
      out += c;
      escaped = false;
    } else if (c === '\\') {
      escaped = true;
    } else if (c === ',' || c === '=') {
      throw new BadRequestError(`invalid field selector: unescaped character in value: ${c}`);
    } else {
      out += c;
    }
  }
  if (escaped) throw new BadRequestError('invalid field selector: invalid escape sequence: \\');
  return out;
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
