// Request bodies: JSON for writes, YAML where a client sends it, the three patch types.
// A body that does not parse is a 400 Status that names the problem; nothing is written.
//
// Nesting is bounded BEFORE a parser runs. Parsers and everything after them (structuredClone,
// patch, validation) recurse once per level: JSON nested 10,000 deep overflows the stack, and
// the `yaml` library fed 1,000 nested flow mappings has ended the process with a fatal
// "RegExpCompiler Allocation failed" (stack exhausted inside V8, not a catchable error).
// Kubernetes' decoders stop at 10,000 levels; Go's stacks grow, ours do not, so the bound here is
// 100 (see maxBodyDepth). JSON is measured exactly with a string-aware bracket scan. YAML is
// measured on the `yaml` lexer's tokens (iterative, linear): flow brackets plus block levels,
// and after composing (recursion bounded by that scan) again with every alias expanded, which
// also refuses aliases that make a cycle (`a: &x [*x]`), since a cyclic object cannot be stored.
import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, parseDocument, type Document } from 'yaml';
import { BadRequestError, TooLargeError, UnsupportedMediaTypeError } from '../api/errors.ts';
import { applyPatchType } from './field-manager.ts';
import { decodeKubeProtobuf, kubeProtobufType } from './kube-protobuf.ts';
import { patchTypes, type PatchType } from './patch.ts';

/**
 * The deepest nesting a body may have. The deepest paths of real objects (a Deployment's pod
 * affinity term: spec.template.spec.affinity...matchExpressions[].values[]) are about 14 levels,
 * and a List of them adds 2; 100 leaves room for anything hand-written while keeping every
 * recursive walk a few hundred frames from Node's ~10,000-frame stack.
 */
export const maxBodyDepth = 100;
// The `yaml` library's own guard against "billion laughs" expansion; its documented default.
const maxYamlAliasCount = 100;
/**
 * The most a YAML body may grow to once its aliases are expanded: the API server's body limit
 * (Kubernetes' 3 MiB). A document that expands past it could not have been sent as JSON, and
 * expanding it (a 1 MiB anchor used 90 times) would hold the event loop for seconds.
 */
export const maxExpandedYamlBytes = 3 * 1024 * 1024;

const jsonTypes = new Set(['application/json', '*/*', '']);
const yamlTypes = new Set(['application/yaml', 'application/x-yaml', 'text/yaml']);

export const mediaType = (contentType: string | undefined): string =>
  (contentType ?? '').split(';')[0]!.trim().toLowerCase();

/** A client's media type, cut short for a message: the answer should not echo 16 KiB back. */
const shown = (type: string) => (type.length > 64 ? `${type.slice(0, 64)}…` : type);

const tooDeep = () => new BadRequestError(`the request body nests deeper than ${maxBodyDepth} levels`);

/**
 * Parses a request body. `as` says what the body is: an object (create, update, DeleteOptions,
 * a join), sent as JSON or YAML as Kubernetes' serializers accept; or a patch, sent with one of
 * the patch media types (patchTypeOf). Any other pairing is a 415, as in Kubernetes.
 */
export function parseBody(contentType: string | undefined, raw: string | Buffer | undefined, as: 'object' | 'patch' = 'object'): unknown {
  const type = mediaType(contentType);
  // kubectl 1.32+ sends typed objects as Kubernetes protobuf (kube-protobuf.ts); never a patch.
  if (type === kubeProtobufType && as === 'object') return Buffer.isBuffer(raw) && raw.length > 0 ? decodeKubeProtobuf(raw) : undefined;
  if (Buffer.isBuffer(raw)) raw = raw.toString('utf8');
  if (as === 'patch') patchTypeOf(contentType);
  else if (!yamlTypes.has(type) && !jsonTypes.has(type)) {
    throw new UnsupportedMediaTypeError(`the body of the request was in an unknown format: "${shown(type)}" - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
  }
  if (raw === undefined || raw === '') return undefined;
  if (yamlTypes.has(type) || type === applyPatchType) return parseYamlBody(raw);
  if (jsonDepth(raw) > maxBodyDepth) throw tooDeep();
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new BadRequestError(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (${(err as Error).message})`);
  }
}

/** The deepest bracket nesting in a JSON text, ignoring brackets inside strings. Never throws. */
export function jsonDepth(raw: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

/**
 * An upper bound on the nesting of a YAML text, from its lexer tokens: open flow collections
 * plus open block collections. A block collection opens at each deeper indentation, at a `- `
 * level with its parent key (a map's sequence value may sit at the key's indentation), and at
 * each `- `, `? ` or `: ` that leads a line's content (`- - - a` is three sequences on one
 * line). Scalars, quoted strings, block scalars and comments are single tokens, so brackets
 * inside them never count.
 */
export function yamlDepth(raw: string): number {
  let flow = 0;
  let max = 0;
  const block: { column: number; sequence: boolean }[] = [];
  let lineStart = true; // only indentation seen on this line so far
  let leading = false; // only block indicators (and properties) seen since the indentation
  let column = 0;
  const top = () => block[block.length - 1];
  for (const token of new Lexer().lex(raw)) {
    if (token === '{' || token === '[') {
      flow++;
    } else if (token === '}' || token === ']') {
      flow = Math.max(0, flow - 1);
    } else if (flow === 0) {
      if (token === '\n' || token.startsWith('\u0002')) { // a line break, or a new document
        lineStart = true;
        leading = false;
        column = 0;
        continue;
      }
      if (/^[ \t]+$/.test(token) && (lineStart || leading)) { column += token.length; continue; }
      if (token.startsWith('#')) continue;
      if (lineStart) {
        const sequence = token === '-';
        while (block.length > 0 && top()!.column > column) block.pop();
        if (top()?.column === column && top()!.sequence && !sequence) block.pop(); // a key after its sequence value
        if (block.length === 0 || top()!.column < column || (sequence && !top()!.sequence)) block.push({ column, sequence });
        lineStart = false;
        leading = true;
      }
      if (leading && (token === '-' || token === '?' || token === ':')) {
        column += 1;
        // The node after the indicator (and its space) is one level deeper, on this same line.
        block.push({ column: column + 1, sequence: false });
      } else if (!(leading && (token.startsWith('&') || token.startsWith('!')))) {
        leading = false;
      }
    }
    const depth = flow + block.length;
    if (depth > max) max = depth;
  }
  return max;
}

function parseYamlBody(raw: string): unknown {
  const yamlError = (message: string) => new BadRequestError(`error converting YAML to JSON: ${message.split('\n')[0]}`);
  if (yamlDepth(raw) > maxBodyDepth) throw tooDeep();
  const doc = parseDocument(raw);
  // Warnings too: an unsupported %YAML version or an unknown tag is an error to go-yaml, and a
  // manifest that means something else than it says is worse than one refused.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw yamlError(problem.message);
  checkExpansion(doc);
  try {
    return doc.toJS({ maxAliasCount: maxYamlAliasCount });
  } catch (err) {
    throw yamlError((err as Error).message);
  }
}

/**
 * Checks the nesting and size of a composed document with every alias replaced by what it
 * names, without expanding anything: each node's depth and size are computed once (an alias
 * costs a lookup), so a "billion laughs" document costs its own size, not its expansion. A
 * cycle is refused.
 */
function checkExpansion(doc: Document): void {
  const known = new Map<unknown, { depth: number; bytes: number }>();
  const open = new Set<unknown>();
  const childrenOf = (node: unknown): unknown[] => {
    if (isAlias(node)) return [node.resolve(doc)];
    if (isMap(node) || isSeq(node)) return node.items as unknown[];
    if (isPair(node)) {
      // A JSON object's keys are strings: Kubernetes' YAML-to-JSON conversion refuses a
      // collection as a key, where `yaml` would stringify it (and warn on the server's stderr).
      const key = isAlias(node.key) ? node.key.resolve(doc) : node.key;
      if (isMap(key) || isSeq(key)) throw new BadRequestError('error converting YAML to JSON: a mapping key must be a scalar, not a collection');
      return [node.key, node.value];
    }
    return [];
  };
  // A collection is one level; an alias and a key-value pair add none.
  const ownLevel = (node: unknown) => (isMap(node) || isSeq(node) ? 1 : 0);
  // A scalar's size is its text; a collection adds a few bytes of punctuation per item.
  const ownBytes = (node: unknown) => (isScalar(node) ? String(node.value).length + 2 : isMap(node) || isSeq(node) ? 2 + node.items.length : 0);
  const stack: { node: unknown; children: unknown[]; next: number; depth: number; bytes: number }[] = [];
  const enter = (node: unknown) => {
    if (open.has(node)) throw new BadRequestError('error converting YAML to JSON: an alias refers to a node that contains it');
    open.add(node);
    stack.push({ node, children: childrenOf(node), next: 0, depth: 0, bytes: ownBytes(node) });
  };
  const add = (frame: { depth: number; bytes: number }, child: { depth: number; bytes: number }) => {
    frame.depth = Math.max(frame.depth, child.depth);
    frame.bytes += child.bytes;
    if (frame.bytes > maxExpandedYamlBytes) {
      throw new TooLargeError(`the YAML body expands past ${maxExpandedYamlBytes} bytes once its aliases are resolved`);
    }
  };
  enter(doc.contents);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++];
      if (child === null || child === undefined || typeof child !== 'object') continue;
      const done = known.get(child);
      if (done !== undefined) add(frame, done);
      else enter(child);
      continue;
    }
    stack.pop();
    open.delete(frame.node);
    const result = { depth: frame.depth + ownLevel(frame.node), bytes: frame.bytes };
    if (result.depth > maxBodyDepth) throw tooDeep();
    known.set(frame.node, result);
    const parent = stack[stack.length - 1];
    if (parent) add(parent, result);
  }
}

export function patchTypeOf(contentType: string | undefined): PatchType | typeof applyPatchType {
  const type = mediaType(contentType);
  if (type in patchTypes || type === applyPatchType) return type as PatchType | typeof applyPatchType;
  throw new UnsupportedMediaTypeError(`the body of the request was in an unknown format: "${shown(type)}" - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
}
