// Label selectors in both forms Kubernetes uses: the query string (`app=web,tier!=db,env in
// (a,b),!canary,gen>3`) and the structured LabelSelector of a ReplicaSet or Deployment.
//
// The query-string form is parsed exactly as k8s.io/apimachinery/pkg/labels/selector.go does:
// a lexer (identifiers end at whitespace or one of `=!(),<>`; `in` and `notin` are keywords only
// where an operator may stand) and a recursive-descent parser. What that grammar accepts is
// accepted here and nothing else, so `,,,,` or `a=b,` is a 400 instead of matching everything.
// Some of what it accepts surprises: `app!=` means "app is not the empty string" and `app in ()`
// means "app is the empty string", both as in Kubernetes.
import { BadRequestError } from './errors.ts';
import type { LabelSelector } from './meta.ts';
import { labelValueError, qualifiedNameError } from './kinds/checks.ts';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
export interface Requirement { key: string; operator: Operator; values: string[] }
export type Selector = Requirement[];

type Labels = Record<string, string> | undefined;

/** Whether `v` parses as Go's strconv.ParseInt(v, 10, 64) would. */
function isInt64(v: string): boolean {
  if (!/^[-+]?\d{1,19}$/.test(v)) return false;
  const n = BigInt(v);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

export function matches(selector: Selector, labels: Labels): boolean {
  return selector.every((req) => {
    const has = labels !== undefined && Object.prototype.hasOwnProperty.call(labels, req.key);
    const value = has ? labels![req.key] : undefined;
    switch (req.operator) {
      case 'In': return has && req.values.includes(value!);
      case 'NotIn': return !has || !req.values.includes(value!);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      case 'Gt':
      case 'Lt': {
        if (!has || !isInt64(value!)) return false;
        const [have, want] = [BigInt(value!), BigInt(req.values[0]!)];
        return req.operator === 'Gt' ? have > want : have < want;
      }
    }
  });
}

type Token =
  | 'end' | 'identifier' | 'in' | 'notin' | ',' | '!' | '=' | '==' | '!=' | '(' | ')' | '>' | '<';

const symbols = new Set(['=', '!', '(', ')', ',', '>', '<']);
const symbolTokens = new Set(['=', '==', '!=', '!', '(', ')', ',', '>', '<']);
const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/** Splits a selector into tokens, as Kubernetes' Lexer does. */
function lex(text: string): { token: Token; literal: string }[] {
  const out: { token: Token; literal: string }[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && isSpace(text[i]!)) i++;
    if (i >= text.length) { out.push({ token: 'end', literal: '' }); return out; }
    if (symbols.has(text[i]!)) {
      // The longest run of symbol characters that is still a token: `!=` and `==`, else one.
      const two = text.slice(i, i + 2);
      const literal = symbolTokens.has(two) ? two : text[i]!;
      out.push({ token: literal as Token, literal });
      i += literal.length;
      continue;
    }
    const start = i;
    while (i < text.length && !symbols.has(text[i]!) && !isSpace(text[i]!)) i++;
    const literal = text.slice(start, i);
    out.push({ token: literal === 'in' || literal === 'notin' ? literal : 'identifier', literal });
  }
}

/** Parses the `labelSelector` query parameter; a malformed selector is a 400. */
export function parseLabelSelector(text: string | undefined): Selector {
  if (text === undefined) return [];
  const tokens = lex(text);
  let pos = 0;
  const fail = (why: string) => new BadRequestError(`unable to parse requirement: ${why}`);
  const shown = (t: { token: Token; literal: string }) => (t.token === 'end' ? '' : t.literal);
  // Where values may stand, `in` and `notin` are plain identifiers (`x in (in)`).
  const peek = (asValue = true) => {
    const t = tokens[pos]!;
    return asValue && (t.token === 'in' || t.token === 'notin') ? { ...t, token: 'identifier' as Token } : t;
  };
  const next = (asValue = true) => { const t = peek(asValue); pos++; return t; };

  const checkKey = (key: string) => {
    const err = qualifiedNameError(key);
    if (err) throw fail(`key: Invalid value: "${key}": ${err}`);
  };
  const checkValue = (key: string, value: string) => {
    const err = labelValueError(value);
    if (err) throw fail(`values[${key}]: Invalid value: "${value}": ${err}`);
  };

  const parseValues = (): string[] => {
    const open = next();
    if (open.token !== '(') throw new BadRequestError(`unable to parse requirement: found '${shown(open)}' expected: '('`);
    const first = peek();
    if (first.token === ')') { pos++; return ['']; }
    if (first.token !== 'identifier' && first.token !== ',') throw fail(`found '${shown(first)}', expected: ',', ')' or identifier`);
    const values = new Set<string>();
    for (;;) {
      const t = next();
      if (t.token === 'identifier') {
        values.add(t.literal);
        const after = peek();
        if (after.token === ',') continue;
        if (after.token === ')') break;
        throw fail(`found '${shown(after)}', expected: ',' or ')'`);
      } else if (t.token === ',') {
        if (values.size === 0) values.add(''); // "(,"
        const after = peek();
        if (after.token === ')') { values.add(''); break; } // ",)"
        if (after.token === ',') values.add(''); // ",,"
      } else {
        throw fail(`found '${shown(t)}', expected: ',', or identifier`);
      }
    }
    pos++; // the ')'
    return [...values].sort();
  };

  const parseRequirement = (): Requirement => {
    let t = next();
    let absent = false;
    if (t.token === '!') { absent = true; t = next(); }
    if (t.token !== 'identifier') throw fail(`found '${shown(t)}', expected: identifier`);
    const key = t.literal;
    checkKey(key);
    // `!key` ends the requirement whatever follows; `!key=value` then fails at the `=`.
    if (absent) return { key, operator: 'DoesNotExist', values: [] };
    const after = peek();
    if (after.token === 'end' || after.token === ',') return { key, operator: 'Exists', values: [] };
    const op = next(false);
    let operator: Operator;
    let values: string[];
    switch (op.token) {
      case 'in': case 'notin':
        operator = op.token === 'in' ? 'In' : 'NotIn';
        values = parseValues();
        break;
      case '=': case '==': case '!=': case '>': case '<': {
        operator = op.token === '!=' ? 'NotIn' : op.token === '>' ? 'Gt' : op.token === '<' ? 'Lt' : 'In';
        const v = peek();
        if (v.token === 'end' || v.token === ',') values = [''];
        else if (next().token === 'identifier') values = [v.literal];
        else throw fail(`found '${shown(v)}', expected: identifier`);
        break;
      }
      default:
        throw fail(`found '${shown(op)}', expected: in, notin, =, ==, !=, >, <`);
    }
    for (const v of values) checkValue(key, v);
    if ((operator === 'Gt' || operator === 'Lt') && !isInt64(values[0]!)) {
      throw fail(`values[0]: Invalid value: "${values[0]}": for 'Gt', 'Lt' operators, the value must be an integer`);
    }
    return { key, operator, values };
  };

  const requirements: Requirement[] = [];
  for (;;) {
    const t = peek();
    if (t.token === 'end') break;
    if (t.token !== 'identifier' && t.token !== '!') {
      throw new BadRequestError(`unable to parse requirement: found '${shown(t)}', expected: !, identifier, or 'end of string'`);
    }
    requirements.push(parseRequirement());
    const sep = next();
    if (sep.token === 'end') break;
    if (sep.token !== ',') throw new BadRequestError(`found '${shown(sep)}', expected: ',' or 'end of string'`);
    const following = peek();
    if (following.token !== 'identifier' && following.token !== '!') {
      throw new BadRequestError(`found '${shown(following)}', expected: identifier after ','`);
    }
  }
  return requirements.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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
      case 'Gt': return `${r.key}>${r.values[0]}`;
      case 'Lt': return `${r.key}<${r.values[0]}`;
    }
  }).join(',');
}
