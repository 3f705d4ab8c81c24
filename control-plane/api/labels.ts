// Label selectors in both forms Kubernetes uses: the query string (`app=web,tier!=db,env in
// (a,b),!canary`) and the structured LabelSelector of a ReplicaSet or Deployment.
import { BadRequestError } from './errors.ts';
import type { LabelSelector } from './meta.ts';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export interface Requirement { key: string; operator: Operator; values: string[] }
export type Selector = Requirement[];

type Labels = Record<string, string> | undefined;

export function matches(selector: Selector, labels: Labels): boolean {
  return selector.every((req) => {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, req.key);
    const value = has ? labels![req.key] : undefined;
    switch (req.operator) {
      case 'In': return has && req.values.includes(value!);
      case 'NotIn': return !has || !req.values.includes(value!);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
    }
  });
}

const keyPattern = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, text: string): string {
  if (!keyPattern.test(key) || key.length > 316) {
    throw new BadRequestError(`unable to parse requirement: invalid label key "${key}" in selector "${text}"`);
  }
  return key;
}
function checkValue(value: string, text: string): string {
  if (!valuePattern.test(value) || value.length > 63) {
    throw new BadRequestError(`unable to parse requirement: invalid label value "${value}" in selector "${text}"`);
  }
  return value;
}

/** Splits on commas that are not inside a parenthesised value set. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) { terms.push(text.slice(start, i)); start = i + 1; }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

/** Parses the `labelSelector` query parameter; a malformed selector is a 400. */
export function parseLabelSelector(text: string | undefined): Selector {
  if (!text || !text.trim()) return [];
  return splitTerms(text).map((term): Requirement => {
    let m = /^!\s*(\S+)$/.exec(term);
    if (m) return { key: checkKey(m[1]!, text), operator: 'DoesNotExist', values: [] };
    m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (m) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), text));
      return { key: checkKey(m[1]!, text), operator: m[2] === 'in' ? 'In' : 'NotIn', values };
    }
    m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (m) {
      return { key: checkKey(m[1]!, text), operator: m[2] === '!=' ? 'NotIn' : 'In', values: [checkValue(m[3]!, text)] };
    }
    if (/^[^=!\s()]+$/.test(term)) return { key: checkKey(term, text), operator: 'Exists', values: [] };
    throw new BadRequestError(`unable to parse requirement: "${term}" in selector "${text}"`);
  });
}

/** Converts a structured LabelSelector; an empty selector matches everything, as in Kubernetes. */
export function fromLabelSelector(selector: LabelSelector | undefined): Selector {
  const reqs: Selector = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    reqs.push({ key, operator: 'In', values: [value] });
  }
  for (const expr of selector?.matchExpressions ?? []) {
    reqs.push({ key: expr.key, operator: expr.operator, values: expr.values ?? [] });
  }
  return reqs;
}

/** Renders a selector in the query-string form (what `kubectl` shows and sends). */
export function formatSelector(selector: Selector): string {
  return selector.map((r) => {
    switch (r.operator) {
      case 'In': return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
      case 'NotIn': return r.values.length === 1 ? `${r.key}!=${r.values[0]}` : `${r.key} notin (${r.values.join(',')})`;
      case 'Exists': return r.key;
      case 'DoesNotExist': return `!${r.key}`;
    }
  }).join(',');
}
