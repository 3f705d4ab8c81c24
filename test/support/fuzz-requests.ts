// A seeded generator of requests the API server must reject: malformed and deeply nested bodies,
// a wrong-typed value at every path of every kind's schema, bad selectors and query parameters,
// patch amplification, oversized objects, path tricks, bad content types and bad credentials.
// Each is sent with each credential (admin, a node's, the join token). The fuzz test and
// `npm run bench:fuzz` send them to a real server; the same seed gives the same requests, so a
// failure reproduces from the seed it prints (LABKUBE_FUZZ_SEED).
//
// Every case is one Kubernetes would refuse. A few name a field the server may ignore rather than
// refuse (a status sent to the main resource, a server-owned metadata field on update): those are
// marked `mayIgnore`, and then a 2xx that writes nothing is an answer too.
import type { TSchema } from '@sinclair/typebox';
import { Kind } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { apiVersionOf, resources, type ResourceType } from '../../control-plane/api/resources.ts';

// A fixed default keeps `npm test` deterministic; set LABKUBE_FUZZ_SEED to explore other runs.
export const defaultFuzzSeed = 20261202;

export function fuzzSeed(): number {
  const raw = process.env.LABKUBE_FUZZ_SEED;
  if (raw === undefined || raw === '') return defaultFuzzSeed;
  if (!/^\d+$/.test(raw)) throw new Error(`LABKUBE_FUZZ_SEED must be a whole number, got "${raw}"`);
  return Number(raw) >>> 0;
}

/** A small deterministic PRNG (mulberry32): a run replays from its seed. */
export function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const fuzzClasses = [
  'malformed-body', 'deep-body', 'wrong-type', 'semantic', 'query', 'patch-amplification', 'oversized', 'path',
  'content-type', 'auth',
] as const;
export type FuzzClass = typeof fuzzClasses[number];

export type CredentialName = 'admin' | 'node' | 'join' | 'none' | 'forged';

export interface FuzzCase {
  id: number;
  class: FuzzClass;
  /** What is wrong with it, in a few words. */
  note: string;
  method: string;
  /** Path and query, already percent-encoded as sent. */
  path: string;
  credential: CredentialName;
  /** The Authorization header sent; absent for `none`. */
  authorization?: string;
  contentType?: string;
  body?: string;
  /** The server may ignore the bad part instead of refusing it: a 2xx that writes nothing is fine. */
  mayIgnore?: boolean;
}

/** One object the fuzz targets: a live object and where it lives. */
export interface Fixture { resource: ResourceType; object: KubeObject; collection: string; url: string }

export interface FuzzContext {
  namespace: string;
  nodeName: string;
  tokens: { admin: string; node: string; join: string };
  /** Live fixture objects by kind, as the server returned them after setup. */
  fixtures: Map<string, Fixture>;
}

export interface GenerateOptions {
  seed: number;
  /** At least this many cases (each class gets its share; the schema walk may add more). */
  count?: number;
  classes?: readonly FuzzClass[];
}

// About 6,000 requests: the issue asks for 5,000 at least, and they run in well under a minute.
const defaultCount = 6000;

/** Each class's share of the requests; wrong types get the rest when every class runs. */
const shares: Record<FuzzClass, number> = {
  'malformed-body': 0.11, 'deep-body': 0.05, 'wrong-type': 0.45, semantic: 0.04, query: 0.10, 'patch-amplification': 0.02,
  // Few, since each is megabytes: together they still send a few hundred MB.
  oversized: 0.012, path: 0.09, 'content-type': 0.05, auth: 0.055,
};

// ---------------------------------------------------------------------------------------------
// Fixtures: the objects the fuzz aims at. None is touched by anything once it settles (no agent
// runs, and the node's heartbeat grace is long), so any write during the fuzz came from a request.

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export interface FixtureStep { method: 'POST'; path: string; credential: 'admin' | 'node'; body: KubeObject }

/** The requests that create the fixtures, in order (the node credential creates its own Node and Lease). */
export function fixtureSteps(namespace: string, nodeName: string): FixtureStep[] {
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, ...extra });
  const podSpec = (app: string) => ({
    containers: [{
      name: 'web', image: 'nginx:1.25', command: ['nginx'], args: ['-g', 'daemon off;'], workingDir: '/',
      env: [{ name: 'MODE', value: 'fuzz' }], ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
      readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 5 },
    }],
    // Tolerates everything, so the node lifecycle controller never evicts it during a run.
    tolerations: [{ operator: 'Exists' }],
    nodeSelector: { 'kubernetes.io/hostname': nodeName },
    ...(app === 'web' && { nodeName }),
  });
  const template = (app: string) => ({ metadata: { labels: { app } }, spec: podSpec(app) });
  const conditions = [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'ready', lastHeartbeatTime: now(), lastTransitionTime: now() }];
  const capacity = { cpu: '4', memory: '8Gi', pods: '110' };
  return [
    { method: 'POST', path: '/api/v1/namespaces', credential: 'admin', body: { apiVersion: 'v1', kind: 'Namespace', metadata: meta(namespace, { labels: { fuzz: 'yes' } }) } },
    {
      method: 'POST', path: '/api/v1/nodes', credential: 'node', body: {
        apiVersion: 'v1', kind: 'Node', metadata: meta(nodeName, { labels: { 'kubernetes.io/hostname': nodeName } }),
        spec: { taints: [{ key: 'fuzz', value: 'yes', effect: 'PreferNoSchedule' }] },
        status: {
          capacity, allocatable: capacity, conditions, addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
          daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
          nodeInfo: { architecture: 'arm64', operatingSystem: 'linux', osImage: 'fuzz', kernelVersion: '6.1', kubeletVersion: 'v1.30.0' },
          images: [{ names: ['nginx:1.25'], sizeBytes: 1000 }],
        },
      },
    },
    {
      method: 'POST', path: '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', credential: 'node', body: {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta(nodeName),
        spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z'), leaseTransitions: 0 },
      },
    },
    { method: 'POST', path: `/api/v1/namespaces/${namespace}/pods`, credential: 'admin', body: { apiVersion: 'v1', kind: 'Pod', metadata: meta('web', { labels: { app: 'web' }, annotations: { note: 'fuzz' } }), spec: podSpec('web') } },
    {
      method: 'POST', path: `/api/v1/namespaces/${namespace}/services`, credential: 'admin', body: {
        apiVersion: 'v1', kind: 'Service', metadata: meta('web', { labels: { app: 'web' } }),
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      },
    },
    {
      method: 'POST', path: `/api/v1/namespaces/${namespace}/endpoints`, credential: 'admin', body: {
        apiVersion: 'v1', kind: 'Endpoints', metadata: meta('manual'),
        subsets: [{ addresses: [{ ip: '10.42.9.9', nodeName, targetRef: { kind: 'Pod', namespace, name: 'web' } }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }],
      },
    },
    {
      method: 'POST', path: `/api/v1/namespaces/${namespace}/events`, credential: 'admin', body: {
        apiVersion: 'v1', kind: 'Event', metadata: meta('web.fuzz'), involvedObject: { kind: 'Pod', namespace, name: 'web', apiVersion: 'v1' },
        reason: 'Fuzz', message: 'fixture', type: 'Normal', count: 1, source: { component: 'fuzz' }, firstTimestamp: now(), lastTimestamp: now(),
      },
    },
    {
      method: 'POST', path: `/apis/apps/v1/namespaces/${namespace}/replicasets`, credential: 'admin', body: {
        apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: meta('rs'),
        spec: { replicas: 0, selector: { matchLabels: { app: 'rs' } }, template: template('rs') },
      },
    },
    {
      method: 'POST', path: `/apis/apps/v1/namespaces/${namespace}/deployments`, credential: 'admin', body: {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('web'),
        spec: { replicas: 0, selector: { matchLabels: { app: 'dep' } }, template: template('dep'), strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } },
      },
    },
    {
      method: 'POST', path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, credential: 'admin', body: {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta('lease'), spec: { holderIdentity: 'fuzz', leaseDurationSeconds: 15 },
      },
    },
  ];
}

/** Where each kind's fixture lives: the node's own Node and Lease, so its credential can write them. */
export function fixtureUrl(r: ResourceType, namespace: string, nodeName: string): { collection: string; url: string } | undefined {
  const base = `/${r.group ? `apis/${r.group}` : 'api'}/${r.version}`;
  const names: Record<string, [ns: string | undefined, name: string]> = {
    Namespace: [undefined, namespace], Node: [undefined, nodeName], Pod: [namespace, 'web'], Service: [namespace, 'web'],
    Endpoints: [namespace, 'manual'], Event: [namespace, 'web.fuzz'], ReplicaSet: [namespace, 'rs'], Deployment: [namespace, 'web'],
    Lease: ['kube-node-lease', nodeName],
  };
  const at = names[r.kind];
  if (!at) return undefined;
  const collection = `${base}/${at[0] ? `namespaces/${at[0]}/` : ''}${r.plural}`;
  return { collection, url: `${collection}/${at[1]}` };
}

/** A collection URL for any kind (in the fuzz namespace when namespaced). */
function collectionOf(r: ResourceType, namespace: string): string {
  return `/${r.group ? `apis/${r.group}` : 'api'}/${r.version}/${r.namespaced ? `namespaces/${namespace}/` : ''}${r.plural}`;
}

// ---------------------------------------------------------------------------------------------
// The schema walk: every path of every kind, and values of the wrong type for it.

type Path = (string | number)[];
interface SchemaPath { path: Path; schema: TSchema; required: boolean }

function* walkSchema(schema: TSchema, path: Path = [], required = true): Generator<SchemaPath> {
  if (path.length > 0) yield { path, schema, required };
  if (path.length > 24) return; // no kind nests this deep; a guard against a recursive schema
  const s = schema as TSchema & { properties?: Record<string, TSchema>; required?: string[]; items?: TSchema; patternProperties?: Record<string, TSchema>; anyOf?: TSchema[] };
  switch (s[Kind]) {
    case 'Object':
      for (const [key, child] of Object.entries(s.properties ?? {})) yield* walkSchema(child, [...path, key], (s.required ?? []).includes(key));
      break;
    case 'Array':
      if (s.items) yield* walkSchema(s.items, [...path, 0], true);
      break;
    case 'Record': {
      const inner = Object.values(s.patternProperties ?? {})[0];
      if (inner) yield* walkSchema(inner, [...path, 'fuzz-key'], true);
      break;
    }
    case 'Union':
      // The union itself was yielded; its object variants' fields are paths too.
      for (const variant of s.anyOf ?? []) {
        if (['Object', 'Array', 'Record'].includes(variant[Kind] as string)) {
          for (const child of walkSchema(variant, path, required)) if (child.path.length > path.length) yield child;
        }
      }
      break;
  }
}

// Kubernetes' int64 fields among those labkube declares: 2^53 fits them; every other integer is an
// int32, where it overflows.
const int64Fields = new Set(['generation', 'observedGeneration', 'deletionGracePeriodSeconds', 'terminationGracePeriodSeconds',
  'tolerationSeconds', 'sizeBytes', 'activeDeadlineSeconds']);

// Kubernetes turns a negative pod grace period into 1 rather than refusing it.
const negativeMeansOne = new Set(['terminationGracePeriodSeconds']);

function integerVariant(schema: TSchema): (TSchema & { minimum?: number }) | undefined {
  if (schema[Kind] === 'Integer') return schema;
  return (schema as { anyOf?: TSchema[] }).anyOf?.find((v) => v[Kind] === 'Integer');
}

const hugeString = (bytes: number, fill = 'x') => fill.repeat(bytes);
const wrongCandidates: [string, unknown][] = [
  ['a string', 'fuzz'], ['a numeric string', '3'], ['an integer', 42], ['a fraction', 1.5], ['a boolean', true],
  ['an object', { fuzz: 1 }], ['an empty object', {}], ['a list', ['fuzz']], ['an empty list', []], ['a list of numbers', [7]],
];

/** Values the schema at `sp` refuses, labelled. */
export function wrongValues(sp: SchemaPath): { label: string; value: unknown }[] {
  const out = wrongCandidates.filter(([, v]) => !Value.Check(sp.schema, v)).map(([label, value]) => ({ label, value }));
  // No null: Kubernetes decodes null as the field's zero value ("" for a string, an empty label
  // value, false), and a merge patch reads it as "delete", so whether null is wrong depends on more
  // than the field's type.
  const int = integerVariant(sp.schema);
  if (int) {
    out.push({ label: '1e308', value: 1e308 });
    if (!int64Fields.has(String(sp.path[sp.path.length - 1]))) out.push({ label: '2^53', value: 2 ** 53 });
    if (int.minimum !== undefined && int.minimum >= 0 && !negativeMeansOne.has(String(sp.path[sp.path.length - 1]))) out.push({ label: '-1', value: -1 });
  }
  if (!Value.Check(sp.schema, 'x')) out.push({ label: 'a 64 KiB string', value: hugeString(64 * 1024) });
  return out;
}

/** Every schema path of a kind, without the ones a kind does not act on (managedFields' items). */
export function schemaPaths(r: ResourceType): SchemaPath[] {
  return [...walkSchema(r.schema)].filter((sp) => sp.schema[Kind] !== 'Unknown' && !(sp.path[0] === 'apiVersion' || sp.path[0] === 'kind'));
}

// ---------------------------------------------------------------------------------------------
// Helpers for building bodies.

const clone = <T>(v: T): T => structuredClone(v);

function setAt(obj: Record<string, unknown>, path: Path, value: unknown): Record<string, unknown> {
  const copy = clone(obj);
  let cur: Record<string | number, unknown> = copy;
  path.slice(0, -1).forEach((key, i) => {
    const nextIsIndex = typeof path[i + 1] === 'number';
    const existing = cur[key];
    const fits = nextIsIndex ? Array.isArray(existing) && existing.length > 0 : existing !== null && typeof existing === 'object' && !Array.isArray(existing);
    if (!fits) cur[key] = nextIsIndex ? [{}] : {};
    cur = cur[key] as Record<string | number, unknown>;
  });
  cur[path[path.length - 1]!] = value;
  return copy;
}

function has(obj: unknown, path: Path): boolean {
  let cur = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return false;
    if (Array.isArray(cur) ? typeof key !== 'number' || key >= cur.length : !Object.prototype.hasOwnProperty.call(cur, key)) return false;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return true;
}

const pointer = (path: Path) => `/${path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;

/** A JSON patch that puts `value` at `path` of `live`: replace what exists, add the first missing part. */
function jsonPatchFor(live: KubeObject, path: Path, value: unknown): unknown[] {
  if (has(live, path)) return [{ op: 'replace', path: pointer(path), value }];
  let i = 1;
  while (i < path.length && has(live, path.slice(0, i))) i++;
  const missing = path.slice(0, i);
  const built = setAt(live as unknown as Record<string, unknown>, path, value);
  let sub: unknown = built;
  for (const key of missing) sub = (sub as Record<string | number, unknown>)[key];
  // `missing` is absent but its parent exists: add creates it (at index 0 of an empty list, too).
  return [{ op: 'add', path: pointer(missing), value: sub }];
}

/** A merge patch that sets `value` at `path`: the whole top-level field, since lists replace whole. */
function mergePatchFor(live: KubeObject, path: Path, value: unknown): Record<string, unknown> {
  const built = setAt(live as unknown as Record<string, unknown>, path, value);
  const top = String(path[0]);
  const patch: Record<string, unknown> = { [top]: built[top] };
  const meta = patch.metadata;
  if (top === 'metadata' && path[1] !== 'resourceVersion' && meta !== null && typeof meta === 'object') delete (meta as Record<string, unknown>).resourceVersion;
  return patch;
}

/** The live object as a client would send it back on update: without resourceVersion (no conflicts hide the bad field). */
function forUpdate(live: KubeObject): KubeObject {
  const copy = clone(live);
  delete copy.metadata.resourceVersion;
  return copy;
}

/** The live object as a new object to create, under a fresh name. */
function forCreate(r: ResourceType, live: KubeObject | undefined, name: string): KubeObject {
  if (!live) return { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name } };
  const copy = clone(live);
  const { labels, annotations } = copy.metadata;
  copy.metadata = { name, ...(labels && { labels }), ...(annotations && { annotations }) };
  if (r.kind !== 'Node') delete copy.status;
  const spec = copy.spec as Record<string, unknown> | undefined;
  if (spec && r.kind === 'Service') { delete spec.clusterIP; delete spec.clusterIPs; delete spec.ports; }
  if (spec && r.kind === 'Namespace') delete copy.spec;
  return copy;
}

const serverOwnedMeta = new Set(['uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'resourceVersion']);
const patchTypes = ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json'] as const;

function deepJson(depth: number, kind: 'array' | 'object', leaf = '1'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}
function deepYamlFlow(depth: number, kind: 'map' | 'seq'): string {
  return kind === 'map' ? `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}` : `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');

// ---------------------------------------------------------------------------------------------
// The generator.

export function generateFuzzRequests(ctx: FuzzContext, options: GenerateOptions): FuzzCase[] {
  const random = prng(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const total = options.count ?? defaultCount;
  const wanted = new Set(options.classes ?? fuzzClasses);
  const ns = ctx.namespace;
  const cases: FuzzCase[] = [];
  const bearer = (t: string) => `Bearer ${t}`;
  const credentials: Record<'admin' | 'node' | 'join', string> = { admin: bearer(ctx.tokens.admin), node: bearer(ctx.tokens.node), join: bearer(ctx.tokens.join) };
  /** Admin half the time (it gets furthest), then the node and the join token. */
  const pickCredential = (): 'admin' | 'node' | 'join' => pick(['admin', 'admin', 'node', 'join'] as const);
  const add = (c: Omit<FuzzCase, 'id' | 'authorization' | 'credential'> & { credential?: CredentialName; authorization?: string }) => {
    const credential = c.credential ?? pickCredential();
    const authorization = c.authorization ?? (credential === 'admin' || credential === 'node' || credential === 'join' ? credentials[credential] : undefined);
    cases.push({ ...c, id: 0, credential, ...(authorization !== undefined && { authorization }) });
  };
  const json = (v: unknown) => JSON.stringify(v);
  const fixtures = [...ctx.fixtures.values()];
  const fixture = (kind: string) => ctx.fixtures.get(kind);
  const pod = fixture('Pod');
  const node = fixture('Node');
  const deploy = fixture('Deployment');
  const freshName = () => `fz-${Math.floor(random() * 1e9).toString(36)}`;
  const validCreate = (r: ResourceType): { url: string; body: string } => {
    const f = fixture(r.kind);
    return { url: f?.collection ?? collectionOf(r, ns), body: json(forCreate(r, f?.object, freshName())) };
  };
  const anyTarget = () => pick(fixtures);
  // Wrong types take whatever the other classes leave, so the total is `count` however the shares are set.
  const othersShare = fuzzClasses.filter((c) => c !== 'wrong-type' && wanted.has(c)).reduce((sum, c) => sum + shares[c], 0);
  const budget = (c: FuzzClass) => (!wanted.has(c) ? 0 : Math.round(total * (c === 'wrong-type' && wanted.size === fuzzClasses.length ? 1 - othersShare : shares[c])));
  /** Calls `make` until the class has its share (`make` may add nothing when a fixture is missing). */
  const fill = (c: FuzzClass, make: () => void) => {
    const want = budget(c);
    const start = cases.length;
    for (let idle = 0; cases.length - start < want && idle < 1000;) {
      const before = cases.length;
      make();
      idle = cases.length > before ? 0 : idle + 1;
    }
  };

  // --- Malformed bodies, JSON and YAML, at every kind of write -----------------------------------
  if (wanted.has('malformed-body')) {
    // Bodies no JSON parser accepts, then bodies that parse but are no object of any kind.
    const jsonSyntax = ['{', '[', '{"a":', 'nul', '}{', '\u0000\u0001', '{"metadata":{"name":"x"}', '\uffff\u0201', "{'a':1}", '{"a":1,}', '\ufeff{"a":1}',
      '{"a":NaN}', '{"a":Infinity}', '[{"op":"add"', '{"a":"\\x41"}', '{"a":1}{"b":2}', '1 2', '{"a":-}', '{"a":01}', '{"a":.5}', '{"a":"\t"}', `{"a":"${'\\u'.repeat(3)}"}`];
    const jsonNotObject = ['"string"', '12', 'true', '[]', 'null', '{}', '{"metadata":null}', '{"metadata":"x"}', '{"metadata":[]}', '{"__proto__":{"x":1}}',
      '{"constructor":{"prototype":{"x":1}}}', '{"spec":{"replicas":1e400}}', ' ', '\n\n', '{"metadata":{"name":"\udc00"}}'];
    // A merge patch of {} changes nothing, a JSON patch [] neither, and DeleteOptions may be empty: those are valid there.
    const validAsPatch = new Set(['{}', 'null', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '[]']);
    const yamlBodies = ['a: [', 'a: {b', '- - - [', 'key: "unterminated', '%YAML 9.9\n---\na: 1', 'a: &x [*x]', ': :', '!!js/function "x"',
      'a: !!binary "not base64!"', '---\napiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Pod\n', '\tkey: value', '? [a]\n: b', 'a: !!int "x"',
      'a: *nope', '- a\n- b', 'just a string', '42', '~', 'metadata: 7', 'metadata:\n  name: [x]', '{{{{', 'a: b: c',
      `a: &a [${'x,'.repeat(50)}x]\nb: &b [${'*a,'.repeat(50)}*a]\nc: &c [${'*b,'.repeat(50)}*b]\nd: [${'*c,'.repeat(50)}*c]`];
    const yamlTypes = ['application/yaml', 'application/x-yaml', 'text/yaml'];
    fill('malformed-body', () => {
      const t = anyTarget();
      const isYaml = random() < 0.35;
      const where = pick(['create', 'update', 'patch', 'status', 'scale', 'join', 'binding', 'delete'] as const);
      const patching = where === 'patch' || ((where === 'status' || where === 'scale') && random() < 0.5);
      const jsonChoices = where === 'delete' ? jsonSyntax.concat(['"string"', '12', 'true', '[]'])
        : patching ? jsonSyntax.concat(jsonNotObject.filter((b) => !validAsPatch.has(b))) : jsonSyntax.concat(jsonNotObject);
      const body = isYaml && where !== 'delete' ? pick(yamlBodies) : pick(jsonChoices);
      const yaml = isYaml && where !== 'delete';
      const note = `malformed ${yaml ? 'YAML' : 'JSON'} body ${JSON.stringify(body.slice(0, 30))} on ${where}`;
      const ct = yaml ? pick(yamlTypes) : 'application/json';
      const writeType = patching ? (yaml ? ct : pick(patchTypes)) : ct;
      const method = patching ? 'PATCH' : 'PUT';
      switch (where) {
        case 'create': add({ class: 'malformed-body', note, method: 'POST', path: t.collection, contentType: ct, body }); break;
        case 'update': add({ class: 'malformed-body', note, method: 'PUT', path: t.url, contentType: ct, body }); break;
        case 'patch': add({ class: 'malformed-body', note, method: 'PATCH', path: t.url, contentType: writeType, body }); break;
        case 'status': {
          const s = pick(fixtures.filter((f) => f.resource.subresources.includes('status')));
          add({ class: 'malformed-body', note, method, path: `${s.url}/status`, contentType: writeType, body });
          break;
        }
        case 'scale': add({ class: 'malformed-body', note, method, path: `${deploy?.url ?? t.url}/scale`, contentType: writeType, body }); break;
        case 'join': add({ class: 'malformed-body', note, method: 'POST', path: '/labkube/v1/join', contentType: ct, body, credential: pick(['join', 'join', 'admin', 'node'] as const) }); break;
        case 'binding': add({ class: 'malformed-body', note, method: 'POST', path: `${pod?.url ?? t.url}/binding`, contentType: ct, body }); break;
        case 'delete': add({ class: 'malformed-body', note, method: 'DELETE', path: t.url, contentType: ct, body }); break;
      }
    });
  }

  // --- Deep nesting: JSON 10,000 deep, YAML 1,000-deep flow mappings (the issue's crash) ----------
  if (wanted.has('deep-body')) {
    const deepValues: [string, () => string][] = [
      ['JSON list 10,000 deep', () => deepJson(10_000, 'array')], ['JSON object 10,000 deep', () => deepJson(10_000, 'object')],
      ['JSON list 100,000 deep', () => deepJson(100_000, 'array')], ['JSON object 20,000 deep', () => deepJson(20_000, 'object')],
    ];
    const yamlValues: [string, () => string][] = [
      ['YAML flow mapping 1,000 deep', () => deepYamlFlow(1000, 'map')], ['YAML flow sequence 1,000 deep', () => deepYamlFlow(1000, 'seq')],
      ['YAML flow mapping 5,000 deep', () => deepYamlFlow(5000, 'map')], ['YAML flow mapping 1,000 deep under metadata', () => `metadata: ${deepYamlFlow(1000, 'map')}`],
      ['YAML flow sequence 10,000 deep', () => deepYamlFlow(10_000, 'seq')],
    ];
    fill('deep-body', () => {
      const t = anyTarget();
      const credential = pick(['admin', 'node', 'join', 'join', 'none'] as const);
      if (random() < 0.5) {
        const [what, make] = pick(yamlValues);
        const path = pick(['/labkube/v1/join', '/labkube/v1/join', t.collection, t.url, `${t.url}/status`]);
        const method = path === t.url ? 'PUT' : path.endsWith('/status') ? 'PUT' : 'POST';
        add({ class: 'deep-body', note: `${what} as the body`, method, path, contentType: pick(['application/yaml', 'application/x-yaml', 'text/yaml']), body: make(), credential });
        return;
      }
      const [what, make] = pick(deepValues);
      const inner = make();
      const shape = pick(['whole', 'field', 'merge', 'json-patch', 'status', 'join'] as const);
      const base = json(forCreate(t.resource, t.object, freshName()));
      switch (shape) {
        case 'whole': add({ class: 'deep-body', note: `${what} as the body`, method: pick(['POST', 'PUT']), path: t.collection, contentType: 'application/json', body: inner, credential }); break;
        case 'field': add({ class: 'deep-body', note: `${what} in an unknown field`, method: 'POST', path: t.collection, contentType: 'application/json', body: `${base.slice(0, -1)},"fuzz":${inner}}`, credential }); break;
        case 'merge': add({ class: 'deep-body', note: `${what} in a merge patch`, method: 'PATCH', path: t.url, contentType: pick(patchTypes.slice(0, 2)), body: `{"metadata":{"labels":{"fuzz":"x"}},"fuzz":${inner}}`, credential }); break;
        case 'json-patch': add({ class: 'deep-body', note: `${what} as a JSON patch value`, method: 'PATCH', path: t.url, contentType: 'application/json-patch+json', body: `[{"op":"add","path":"/fuzz","value":${inner}}]`, credential }); break;
        case 'status': add({ class: 'deep-body', note: `${what} in a status patch`, method: 'PATCH', path: `${node?.url ?? t.url}/status`, contentType: 'application/merge-patch+json', body: `{"status":{"fuzz":${inner}}}`, credential: credential === 'none' ? 'node' : credential }); break;
        case 'join': add({ class: 'deep-body', note: `${what} as a join body`, method: 'POST', path: '/labkube/v1/join', contentType: 'application/json', body: `{"nodeName":${inner}}`, credential }); break;
      }
    });
  }

  // --- Wrong types at every path of every kind ---------------------------------------------------
  if (wanted.has('wrong-type')) {
    type Plan = { f: Fixture | undefined; r: ResourceType; sp: SchemaPath; label: string; value: unknown };
    const plans: Plan[] = [];
    for (const r of resources) {
      const f = fixture(r.kind);
      for (const sp of schemaPaths(r)) for (const { label, value } of wrongValues(sp)) plans.push({ f, r, sp, label, value });
    }
    // Every path gets at least one wrong value; the rest of the budget is spread at random.
    const byPath = new Map<string, Plan[]>();
    for (const p of plans) {
      const key = `${p.r.kind}:${p.sp.path.join('.')}`;
      byPath.set(key, [...(byPath.get(key) ?? []), p]);
    }
    const chosen: Plan[] = [...byPath.values()].map((list) => pick(list));
    const extra = Math.max(0, budget('wrong-type') - chosen.length);
    for (let i = 0; i < extra; i++) chosen.push(pick(plans));
    for (const { f, r, sp, label, value } of chosen) {
      const path = sp.path;
      const where = `${r.kind} ${path.join('.')}`;
      const isStatus = path[0] === 'status';
      const ownedMeta = path[0] === 'metadata' && serverOwnedMeta.has(String(path[1]));
      const note = `${label} at ${where}`;
      if (!f) {
        const body = setAt(forCreate(r, undefined, freshName()) as unknown as Record<string, unknown>, path, value);
        add({ class: 'wrong-type', note: `${note} (create)`, method: 'POST', path: collectionOf(r, ns), contentType: 'application/json', body: json(body) });
        continue;
      }
      const live = f.object;
      const hasStatus = f.resource.subresources.includes('status');
      const verbs = isStatus && hasStatus
        ? ['status-put', 'status-patch', 'status-patch', 'status-patch', 'create', 'update', 'patch'] as const
        : ['create', 'update', 'patch', 'patch', 'patch'] as const;
      const verb = pick(verbs);
      // Node and Lease fixtures are the node's own: its credential can write them, so it goes further.
      const credential = (r.kind === 'Node' || r.kind === 'Lease' || r.kind === 'Event' || (r.kind === 'Pod' && verb.startsWith('status'))) && random() < 0.4 ? 'node' : pickCredential();
      // On the main resource the status is not the client's to write; on update neither are the server's metadata fields.
      const ignorable = (verb === 'update' || verb === 'patch') && ((isStatus && hasStatus) || ownedMeta || (r.kind === 'Namespace' && path[0] === 'spec'));
      switch (verb) {
        case 'create': {
          const name = (r.kind === 'Node' || (r.kind === 'Lease' && f.url.includes('/kube-node-lease/'))) && credential === 'node' ? ctx.nodeName : freshName();
          const base = forCreate(r, live, name);
          add({ class: 'wrong-type', note: `${note} (create)`, method: 'POST', path: f.collection, contentType: 'application/json', credential, body: json(setAt(base as unknown as Record<string, unknown>, path, value)) });
          break;
        }
        case 'update':
          add({ class: 'wrong-type', note: `${note} (update)`, method: 'PUT', path: f.url, contentType: 'application/json', credential, mayIgnore: ignorable, body: json(setAt(forUpdate(live) as unknown as Record<string, unknown>, path, value)) });
          break;
        case 'patch':
        case 'status-patch': {
          // A merge patch merges an object into the object there instead of replacing it: only a JSON patch puts it in place.
          const merges = value !== null && typeof value === 'object' && !Array.isArray(value);
          const type = merges ? 'application/json-patch+json' : pick(patchTypes);
          const body = type === 'application/json-patch+json' ? jsonPatchFor(live, path, value) : mergePatchFor(live, path, value);
          add({ class: 'wrong-type', note: `${note} (${verb} ${type.split('/')[1]})`, method: 'PATCH', path: verb === 'patch' ? f.url : `${f.url}/status`, contentType: type, credential, mayIgnore: ignorable, body: json(body) });
          break;
        }
        case 'status-put':
          add({ class: 'wrong-type', note: `${note} (status update)`, method: 'PUT', path: `${f.url}/status`, contentType: 'application/json', credential, body: json(setAt(forUpdate(live) as unknown as Record<string, unknown>, path, value)) });
          break;
      }
    }
    // The scale subresource's one field, and a Scale that names another object or kind.
    for (const f of fixtures.filter((x) => x.resource.subresources.includes('scale'))) {
      const values: [string, unknown][] = [['a string', '3'], ['a fraction', 1.5], ['-1', -1], ['1e308', 1e308], ['2^53', 2 ** 53], ['an object', {}], ['a list', []], ['null', null], ['a boolean', true]];
      for (const [label, value] of values) {
        const credential = pickCredential();
        add({ class: 'wrong-type', note: `${label} at Scale spec.replicas (update)`, method: 'PUT', path: `${f.url}/scale`, contentType: 'application/json', credential, body: json({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: f.object.metadata.name, namespace: ns }, spec: { replicas: value } }) });
        const type = pick(patchTypes);
        add({ class: 'wrong-type', note: `${label} at Scale spec.replicas (patch ${type})`, method: 'PATCH', path: `${f.url}/scale`, contentType: type, credential: pickCredential(),
          body: json(type === 'application/json-patch+json' ? [{ op: 'replace', path: '/spec/replicas', value }] : { spec: { replicas: value } }) });
      }
      for (const [label, body] of [['a Scale for another name', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'other', namespace: ns }, spec: { replicas: 1 } }],
        ['a Scale whose name is a number', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 42 }, spec: { replicas: 1 } }],
        ['a Scale whose kind is Deployment', { apiVersion: 'autoscaling/v1', kind: f.resource.kind, metadata: { name: f.object.metadata.name }, spec: { replicas: 1 } }],
        ['a Scale whose spec is a string', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: f.object.metadata.name }, spec: 'x' }],
        ['a Scale whose spec is a list', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: f.object.metadata.name }, spec: [] }]] as const) {
        add({ class: 'wrong-type', note: `${label} (scale update)`, method: 'PUT', path: `${f.url}/scale`, contentType: 'application/json', body: json(body) });
      }
    }
    if (pod) {
      for (const body of [{ target: 42 }, { target: { name: 42 } }, { target: { name: '' } }, { target: [] }, [], 'x', { target: { name: 'x'.repeat(64 * 1024) } }]) {
        add({ class: 'wrong-type', note: `binding ${JSON.stringify(body).slice(0, 40)}`, method: 'POST', path: `${pod.url}/binding`, contentType: 'application/json', body: json(body) });
      }
    }
  }

  // --- Semantic invalids Kubernetes refuses (issue items 3, 9, 13) --------------------------------
  if (wanted.has('semantic')) {
    type Edit = [kind: string, note: string, path: Path, value: unknown];
    const edits: Edit[] = [
      ['Deployment', 'replicas 2^53', ['spec', 'replicas'], 2 ** 53], ['ReplicaSet', 'replicas 1e308', ['spec', 'replicas'], 1e308],
      ['Pod', 'generateName "" and no name', ['metadata'], { generateName: '' }], ['Pod', 'generateName 42', ['metadata'], { generateName: 42 }],
      ['Pod', 'generateName in capitals', ['metadata'], { generateName: 'UPPER-' }], 
      ['Pod', 'name in capitals', ['metadata', 'name'], 'UPPER'], ['Pod', 'name 254 long', ['metadata', 'name'], 'x'.repeat(254)], ['Pod', 'name ".."', ['metadata', 'name'], '..'],
      ['Pod', 'name with a slash', ['metadata', 'name'], 'a/b'], ['Pod', 'name ""', ['metadata', 'name'], ''], ['Service', 'service name with a dot', ['metadata', 'name'], 'a.b'],
      ['Pod', 'cpu request "-1"', ['spec', 'containers', 0, 'resources', 'requests', 'cpu'], '-1'], ['Pod', 'cpu request "xxx"', ['spec', 'containers', 0, 'resources', 'requests', 'cpu'], 'xxx'],
      ['Pod', 'memory request NUL', ['spec', 'containers', 0, 'resources', 'requests', 'memory'], '\u0000'], ['Pod', 'cpu limit -1', ['spec', 'containers', 0, 'resources', 'limits', 'cpu'], -1],
      ['Pod', 'cpu ""', ['spec', 'containers', 0, 'resources', 'requests', 'cpu'], ''],
      ['Pod', 'image ""', ['spec', 'containers', 0, 'image'], ''], ['Pod', 'image with a leading space', ['spec', 'containers', 0, 'image'], ' nginx'],
      ['Pod', 'env name ""', ['spec', 'containers', 0, 'env', 0, 'name'], ''], ['Pod', 'env name with "="', ['spec', 'containers', 0, 'env', 0, 'name'], 'A=B'],
      ['Pod', 'container name in capitals', ['spec', 'containers', 0, 'name'], 'WEB'], ['Pod', 'containerPort 0', ['spec', 'containers', 0, 'ports', 0, 'containerPort'], 0],
      ['Pod', 'containerPort 65536', ['spec', 'containers', 0, 'ports', 0, 'containerPort'], 65536], ['Pod', 'protocol "tcp"', ['spec', 'containers', 0, 'ports', 0, 'protocol'], 'tcp'],
      ['Pod', 'restartPolicy "Sometimes"', ['spec', 'restartPolicy'], 'Sometimes'], 
      ['Pod', 'tolerationSeconds with NoSchedule', ['spec', 'tolerations'], [{ key: 'a', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }]],
      ['Pod', 'operator Exists with a value', ['spec', 'tolerations'], [{ key: 'a', operator: 'Exists', value: 'x' }]],
      ['Pod', 'label value 64 long', ['metadata', 'labels'], { a: 'x'.repeat(64) }], ['Pod', 'label key with a space', ['metadata', 'labels'], { 'a b': 'x' }],
      ['Pod', 'label key name 64 long', ['metadata', 'labels'], { ['k'.repeat(64)]: 'x' }], ['Pod', 'label prefix 254 long', ['metadata', 'labels'], { [`${'p'.repeat(254)}/k`]: 'x' }],
      ['Pod', 'finalizer with a space', ['metadata', 'finalizers'], ['bad finalizer']], ['Pod', 'namespace of another', ['metadata', 'namespace'], 'default'],
      ['Pod', 'ownerReference without uid', ['metadata', 'ownerReferences'], [{ apiVersion: 'v1', kind: 'Pod', name: 'x' }]],
      ['Pod', 'two controller ownerReferences', ['metadata', 'ownerReferences'], [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: '1', controller: true }, { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: '2', controller: true }]],
      ['Deployment', 'maxSurge "abc"', ['spec', 'strategy', 'rollingUpdate', 'maxSurge'], 'abc'], ['Deployment', 'maxSurge -1', ['spec', 'strategy', 'rollingUpdate', 'maxSurge'], -1],
      ['Deployment', 'maxUnavailable "150%"', ['spec', 'strategy', 'rollingUpdate', 'maxUnavailable'], '150%'],
      ['Deployment', 'maxSurge 0 and maxUnavailable 0', ['spec', 'strategy', 'rollingUpdate'], { maxSurge: 0, maxUnavailable: 0 }],
      ['Deployment', 'selector not matching the template', ['spec', 'selector'], { matchLabels: { app: 'other' } }], ['Deployment', 'empty selector', ['spec', 'selector'], {}],
      ['Deployment', 'replicas -1', ['spec', 'replicas'], -1], ['Deployment', 'strategy type "Magic"', ['spec', 'strategy', 'type'], 'Magic'],
      ['Service', 'targetPort 70000', ['spec', 'ports'], [{ port: 80, targetPort: 70000 }]],
      ['Service', 'targetPort "Bad_Name!"', ['spec', 'ports'], [{ port: 80, targetPort: 'Bad_Name!' }]], ['Service', 'port 0', ['spec', 'ports'], [{ port: 0 }]],
      ['Service', 'port 65536', ['spec', 'ports'], [{ port: 65536 }]], ['Service', 'type "Magic"', ['spec', 'type'], 'Magic'],
      ['Service', 'two ports named the same', ['spec', 'ports'], [{ name: 'a', port: 80 }, { name: 'a', port: 81 }]],
      ['Service', 'clusterIP "not-an-ip"', ['spec', 'clusterIP'], 'not-an-ip'], ['Service', 'sessionAffinity "Bogus"', ['spec', 'sessionAffinity'], 'Bogus'],
      ['Service', 'nodePort on a ClusterIP service', ['spec', 'ports'], [{ port: 80, nodePort: 30080 }]],
      ['Lease', 'renewTime "not-a-time"', ['spec', 'renewTime'], 'not-a-time'], ['Lease', 'acquireTime "2020-13-45"', ['spec', 'acquireTime'], '2020-13-45'],
      ['Lease', 'leaseDurationSeconds 0', ['spec', 'leaseDurationSeconds'], 0], ['Lease', 'leaseTransitions -1', ['spec', 'leaseTransitions'], -1],
      ['Node', 'taint effect "Bogus"', ['spec', 'taints'], [{ key: 'a', effect: 'Bogus' }]], ['Node', 'taint key ""', ['spec', 'taints'], [{ key: '', effect: 'NoSchedule' }]],
      ['Node', 'taint key with a space', ['spec', 'taints'], [{ key: 'a b', effect: 'NoSchedule' }]], ['Node', 'capacity cpu "xxx"', ['status', 'capacity', 'cpu'], 'xxx'],
      ['Namespace', 'namespace name with a dot', ['metadata', 'name'], 'a.b'],
    ];
    fill('semantic', () => {
      const [kind, note, path, value] = pick(edits);
      const f = fixture(kind);
      if (!f) return;
      const isNodeOwn = kind === 'Node' || kind === 'Lease';
      const credential = isNodeOwn && random() < 0.4 ? 'node' : pickCredential();
      const dryRun = random() < 0.25 ? '?dryRun=All' : '';
      const verb = path[0] === 'metadata' && (path[1] === 'name' || path.length === 1) ? 'create' : pick(['create', 'create', 'update', 'patch'] as const);
      if (verb === 'create') {
        const name = isNodeOwn && credential === 'node' ? ctx.nodeName : freshName();
        let body = forCreate(f.resource, f.object, name) as unknown as Record<string, unknown>;
        if (path.length === 1 && path[0] === 'metadata') body = { ...body, metadata: { ...(body.metadata as object), name: undefined, ...(value as object) } };
        else body = setAt(body, path, value);
        add({ class: 'semantic', note: `${kind}: ${note} (create)`, method: 'POST', path: `${f.collection}${dryRun}`, contentType: 'application/json', credential, body: json(body) });
      } else if (verb === 'update') {
        add({ class: 'semantic', note: `${kind}: ${note} (update)`, method: 'PUT', path: `${path[0] === 'status' ? `${f.url}/status` : f.url}${dryRun}`, contentType: 'application/json', credential, body: json(setAt(forUpdate(f.object) as unknown as Record<string, unknown>, path, value)) });
      } else {
        // An empty object merged in changes nothing: put it in place with a JSON patch.
        const empty = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
        const type = empty ? 'application/json-patch+json' : pick(patchTypes);
        const body = type === 'application/json-patch+json' ? jsonPatchFor(f.object, path, value) : mergePatchFor(f.object, path, value);
        add({ class: 'semantic', note: `${kind}: ${note} (patch ${type})`, method: 'PATCH', path: `${path[0] === 'status' ? `${f.url}/status` : f.url}${dryRun}`, contentType: type, credential, body: json(body) });
      }
    });
  }

  // --- Bad selectors and query parameters --------------------------------------------------------
  if (wanted.has('query')) {
    // Not here: 'a in ()', which Kubernetes parses as a in ("") (its parseValues turns "()" into the empty value).
    const labelSelectors = [',,,,', ',', 'a,', ',a', '(((', 'a in (', 'a notin', '!', '!!a', 'a==b==c', 'a=b=c', 'A B=c', 'a b', '=a', 'a>x', 'a<',
      `${'k'.repeat(64)}=v`, `a=${'v'.repeat(64)}`, 'a=b!', '%ZZ', 'a in (b', 'a,,b', 'app=web,', 'x/y/z=1', '-a=b', 'a=-b-', 'a in (b c)'];
    // Kubernetes skips empty terms of a field selector (",," selects everything), so those are valid.
    const fieldSelectors = ['nope=x', 'metadata.name', '=x', 'metadata.name in (a)', 'metadata.name=a\\', 'spec.nodeName>1', 'metadata.labels=x', '!metadata.name'];
    const badInts = ['abc', '1.5', '1e3', '99999999999999999999', '0x10', '1e400', 'NaN', '-', '%ZZ', '9'.repeat(400)];
    const badRvs = ['abc', 'NaN', '1e400', '-1', '99999999999999999999', '1.5', '%ZZ', '0x1', '9'.repeat(400)];
    const badContinues = ['garbage!!', 'e30', b64url('{"k":42}'), b64url('not json'), '%ZZ', 'x'.repeat(10_000), b64url('{"k":"/pods/"}') + '%00'];
    const badDryRuns = ['true', 'all', '1', '%ZZ', 'All,Foo', 'ALL', 'false', 'Al', 'All%00'];
    const badPolicies = ['Nope', 'orphan', 'background', 'Foreground,Orphan', '%ZZ'];
    const enc = encodeURIComponent;
    const raw = (v: string) => (v.includes('%ZZ') || v.includes('%00') ? v : enc(v));
    const lists = () => pick(fixtures.map((f) => f.collection).concat(['/api/v1/pods', '/apis/apps/v1/deployments', '/api/v1/nodes', '/api/v1/namespaces']));
    fill('query', () => {
      const kind = pick(['label', 'label', 'field', 'limit', 'continue', 'rv', 'timeout', 'grace', 'grace-body', 'dryrun', 'dryrun-body', 'policy', 'policy-body', 'watch', 'fieldValidation', 'deletecollection', 'rvMatch'] as const);
      const credential = pickCredential();
      switch (kind) {
        case 'label': { const s = pick(labelSelectors); add({ class: 'query', note: `labelSelector ${JSON.stringify(s).slice(0, 40)}`, method: 'GET', path: `${lists()}?labelSelector=${raw(s)}`, credential }); break; }
        case 'field': { const s = pick(fieldSelectors); add({ class: 'query', note: `fieldSelector ${JSON.stringify(s)}`, method: 'GET', path: `${pick(fixtures.filter((f) => f.resource.kind === 'Pod' || f.resource.kind === 'Node').map((f) => f.collection).concat(['/api/v1/pods']))}?fieldSelector=${raw(s)}`, credential }); break; }
        case 'limit': { const v = pick(badInts); add({ class: 'query', note: `limit=${v.slice(0, 30)}`, method: 'GET', path: `${lists()}?limit=${raw(v)}`, credential }); break; }
        case 'continue': { const v = pick(badContinues); add({ class: 'query', note: `continue=${v.slice(0, 30)}`, method: 'GET', path: `${lists()}?limit=1&continue=${raw(v)}`, credential }); break; }
        case 'rv': {
          const v = pick(badRvs);
          const t = anyTarget();
          const [path, where] = pick([[`${lists()}?resourceVersion=${raw(v)}`, 'list'], [`${t.url}?resourceVersion=${raw(v)}`, 'get'], [`${lists()}?watch=1&resourceVersion=${raw(v)}`, 'watch']] as const);
          add({ class: 'query', note: `${where} with resourceVersion=${v.slice(0, 30)}`, method: 'GET', path, credential });
          break;
        }
        case 'timeout': { const v = pick(badInts); add({ class: 'query', note: `timeoutSeconds=${v.slice(0, 30)}`, method: 'GET', path: `${lists()}?${pick(['watch=1&', 'watch=true&', ''])}timeoutSeconds=${raw(v)}`, credential }); break; }
        case 'grace': { const v = pick([...badInts, '8.64e12']); add({ class: 'query', note: `gracePeriodSeconds=${v.slice(0, 30)}`, method: 'DELETE', path: `${anyTarget().url}?gracePeriodSeconds=${raw(v)}`, credential }); break; }
        case 'grace-body': {
          const v = pick(['abc', 1.5, 1e308, {}, [], true, '30', 2 ** 64]);
          add({ class: 'query', note: `DeleteOptions gracePeriodSeconds ${JSON.stringify(v)}`, method: 'DELETE', path: anyTarget().url, contentType: 'application/json', credential, body: json({ apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: v }) });
          break;
        }
        case 'dryrun': {
          const v = pick(badDryRuns);
          const t = anyTarget();
          const r = t.resource;
          const [method, path, body, contentType] = pick([
            ['POST', `${t.collection}?dryRun=${raw(v)}`, validCreate(r).body, 'application/json'],
            ['PATCH', `${t.url}?dryRun=${raw(v)}`, json({ metadata: { labels: { fuzz: 'dry' } } }), 'application/merge-patch+json'],
            ['DELETE', `${t.url}?dryRun=${raw(v)}`, undefined, undefined],
          ] as const);
          add({ class: 'query', note: `dryRun=${v} on a valid ${method}`, method, path, credential, ...(body !== undefined && { body, contentType }) });
          break;
        }
        case 'dryrun-body': add({ class: 'query', note: 'DeleteOptions dryRun ["Bogus"]', method: 'DELETE', path: anyTarget().url, contentType: 'application/json', credential, body: json({ dryRun: pick([['Bogus'], 'All', [42], {}]) }) }); break;
        case 'policy': { const v = pick(badPolicies); add({ class: 'query', note: `propagationPolicy=${v}`, method: 'DELETE', path: `${anyTarget().url}?propagationPolicy=${raw(v)}`, credential }); break; }
        case 'policy-body': {
          const body = pick([{ propagationPolicy: 42 }, { propagationPolicy: 'Nope' }, { orphanDependents: true, propagationPolicy: 'Background' }, { preconditions: { uid: 42 } }, { preconditions: 'x' }, { orphanDependents: 'yes' }]);
          add({ class: 'query', note: `DeleteOptions ${JSON.stringify(body)}`, method: 'DELETE', path: anyTarget().url, contentType: 'application/json', credential, body: json(body) });
          break;
        }
        case 'watch': {
          const q = pick(['watch=1&resourceVersion=abc', 'watch=true&timeoutSeconds=abc', 'watch=1&labelSelector=(((', 'watch=1&fieldSelector=nope%3Dx',
            'watch=1&resourceVersion=99999999999999999999', 'watch=1&resourceVersion=1e400', 'watch=1&resourceVersion=NaN', 'watch=yes&resourceVersion=abc',
            'watch=1&labelSelector=%2C%2C', 'watch=1&timeoutSeconds=1e400', 'watch=1&resourceVersion=-1']);
          add({ class: 'query', note: `watch ${q}`, method: 'GET', path: `${lists()}?${q}`, credential });
          break;
        }
        case 'fieldValidation': {
          const t = anyTarget();
          add({ class: 'query', note: 'fieldValidation=Bogus on a valid create', method: 'POST', path: `${t.collection}?fieldValidation=${pick(['Bogus', 'strict', '%ZZ'])}`, contentType: 'application/json', credential, body: validCreate(t.resource).body });
          break;
        }
        case 'rvMatch': add({ class: 'query', note: 'resourceVersionMatch=Bogus', method: 'GET', path: `${lists()}?resourceVersion=1&resourceVersionMatch=${pick(['Bogus', 'exact', '%ZZ'])}`, credential }); break;
        case 'deletecollection': {
          const s = pick(labelSelectors.filter((x) => x !== 'app=web,'));
          const f = pick(fixtures.filter((x) => x.resource.namespaced));
          const q = random() < 0.7 ? `labelSelector=${raw(s)}` : `fieldSelector=${raw(pick(fieldSelectors))}`;
          add({ class: 'query', note: `deletecollection with ${decodeURIComponent(q.replace(/%ZZ/g, '%25ZZ').replace(/%00/g, '%2500')).slice(0, 40)}`, method: 'DELETE', path: `${f.collection}?${q}`, credential });
          break;
        }
      }
    });
  }

  // --- Patch amplification: copy a value into itself until it doubles past any limit ---------------
  if (wanted.has('patch-amplification')) {
    fill('patch-amplification', () => {
      const copies = pick([21, 22, 25, 30, 40]);
      const seedBytes = pick([1000, 4096]);
      const useNode = random() < 0.4 && node;
      const t = useNode ? node : anyTarget();
      const at = useNode ? pick(['/status/fuzz', '/metadata/fuzz']) : pick(['/fuzz', '/metadata/fuzz', '/spec/fuzz']);
      const asList = random() < 0.3;
      const ops: unknown[] = [{ op: 'add', path: at, value: asList ? ['x'.repeat(seedBytes)] : { s: 'x'.repeat(seedBytes) } }];
      for (let i = 0; i < copies; i++) ops.push({ op: 'copy', from: at, path: asList ? `${at}/-` : `${at}/c${i}` });
      const target = useNode && at.startsWith('/status') ? `${t!.url}/status` : t!.url;
      const credential = useNode ? pick(['node', 'node', 'admin', 'join'] as const) : pickCredential();
      add({ class: 'patch-amplification', note: `add ${seedBytes} B then ${copies} self-copies (${asList ? 'list' : 'object'})`, method: 'PATCH',
        path: `${target}${random() < 0.2 ? '?dryRun=All' : ''}`, contentType: 'application/json-patch+json', credential, body: json(ops) });
      if (random() < 0.15) {
        const many = Array.from({ length: pick([10_001, 40_000]) }, (_, i) => ({ op: 'test', path: '/metadata/name', value: t!.object.metadata.name, i }));
        add({ class: 'patch-amplification', note: `${many.length} JSON patch operations`, method: 'PATCH', path: t!.url, contentType: 'application/json-patch+json', credential: pickCredential(), body: json(many) });
      }
      if (random() < 0.15) {
        const ops2: unknown[] = [{ op: 'add', path: '/fuzz', value: 'x'.repeat(1024 * 1024) }];
        for (let i = 0; i < 200; i++) ops2.push({ op: 'copy', from: '/fuzz', path: `/fuzz${i}` });
        add({ class: 'patch-amplification', note: 'add 1 MB then copy it 200 times', method: 'PATCH', path: t!.url, contentType: 'application/json-patch+json', credential: pickCredential(), body: json(ops2) });
      }
    });
  }

  // --- Oversized objects: labels and annotations of megabytes, bodies near and past 3 MiB ---------
  if (wanted.has('oversized')) {
    const mib = 1024 * 1024;
    const manyLabels = (bytes: number) => Object.fromEntries(Array.from({ length: Math.ceil(bytes / 80) }, (_, i) => [`k${i}`, 'v'.repeat(60)]));
    const manyAnnotations = (bytes: number, keys: number) => Object.fromEntries(Array.from({ length: keys }, (_, i) => [`a${i}`, 'x'.repeat(Math.ceil(bytes / keys))]));
    fill('oversized', () => {
      const t = anyTarget();
      const shape = pick(['labels', 'annotations', 'annotations-split', 'near-limit', 'over-limit', 'way-over', 'big-field', 'node-status', 'node-images', 'event', 'yaml-alias', 'labels-patch'] as const);
      const credential = pickCredential();
      const create = (note: string, meta: Record<string, unknown>) => {
        const body = forCreate(t.resource, t.object, freshName());
        body.metadata = { ...body.metadata, ...meta };
        add({ class: 'oversized', note, method: 'POST', path: t.collection, contentType: 'application/json', credential, body: json(body) });
      };
      switch (shape) {
        case 'labels': create('2 MB of labels', { labels: manyLabels(2 * mib) }); break;
        case 'annotations': create('one 300 KB annotation', { annotations: { big: 'x'.repeat(300 * 1024) } }); break;
        case 'annotations-split': create('260 KB of annotations over 64 keys', { annotations: manyAnnotations(260 * 1024, 64) }); break;
        case 'near-limit': create('a body just under 3 MiB (annotations)', { annotations: manyAnnotations(3 * mib - 4096, 8) }); break;
        case 'over-limit': create('a body just over 3 MiB', { annotations: { big: 'x'.repeat(3 * mib + 16) } }); break;
        case 'way-over': add({ class: 'oversized', note: 'an 8 MiB body', method: pick(['POST', 'PUT', 'PATCH']), path: pick([t.collection, '/labkube/v1/join']), contentType: 'application/json', credential: pick(['admin', 'node', 'join', 'none'] as const), body: json({ metadata: { name: 'x' }, pad: 'x'.repeat(8 * mib) }) }); break;
        case 'big-field': {
          const f = pod ?? t;
          const body = setAt(forCreate(f.resource, f.object, freshName()) as unknown as Record<string, unknown>, pick([['spec', 'containers', 0, 'workingDir'], ['spec', 'containers', 0, 'command'], ['spec', 'containers', 0, 'image']] as Path[]), 'x'.repeat(2 * mib));
          add({ class: 'oversized', note: 'a 2 MB string in a pod field', method: 'POST', path: f.collection, contentType: 'application/json', credential, body: json(body) });
          break;
        }
        case 'node-status':
          if (node) {
            const put = random() < 0.5;
            const body = put ? setAt(forUpdate(node.object) as unknown as Record<string, unknown>, ['status', 'nodeInfo', 'osImage'], 'x'.repeat(2 * mib))
              : { status: { nodeInfo: { osImage: 'x'.repeat(2 * mib) } } };
            add({ class: 'oversized', note: 'Node status with a 2 MB osImage', method: put ? 'PUT' : 'PATCH', path: `${node.url}/status`, contentType: put ? 'application/json' : 'application/merge-patch+json',
              credential: pick(['node', 'node', 'admin'] as const), body: json(body) });
          }
          break;
        case 'node-images':
          if (node) add({ class: 'oversized', note: 'Node status with 20,000 images (2 MB)', method: 'PATCH', path: `${node.url}/status`, contentType: 'application/merge-patch+json', credential: pick(['node', 'node', 'admin'] as const),
            body: json({ status: { images: Array.from({ length: 20_000 }, (_, i) => ({ names: [`registry.example/fuzz/image-${i}:v1.0.0-padding-padding-padding-padding`], sizeBytes: i })) } }) });
          break;
        case 'event': {
          const ev = fixture('Event');
          if (ev) add({ class: 'oversized', note: 'an Event with a 2 MB message', method: 'POST', path: ev.collection, contentType: 'application/json', credential: pick(['node', 'admin'] as const), body: json({ ...forCreate(ev.resource, ev.object, freshName()), message: 'x'.repeat(2 * mib) }) });
          break;
        }
        case 'yaml-alias': {
          const f = pod ?? t;
          const yaml = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${freshName()}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    command: &a ["${'x'.repeat(mib)}"]\n    args: [${Array.from({ length: 90 }, () => '*a').join(', ')}]\n`;
          add({ class: 'oversized', note: 'YAML: a 1 MB anchor aliased 90 times (90 MB object)', method: 'POST', path: f.collection, contentType: 'application/yaml', credential, body: yaml });
          break;
        }
        case 'labels-patch':
          add({ class: 'oversized', note: 'merge patch adding 2 MB of labels', method: 'PATCH', path: t.url, contentType: pick(patchTypes.slice(0, 2)), credential: t.resource.kind === 'Node' ? pick(['node', 'admin'] as const) : credential, body: json({ metadata: { labels: manyLabels(2 * mib) } }) });
          break;
      }
    });
  }

  // --- Path tricks --------------------------------------------------------------------------------
  if (wanted.has('path')) {
    const p = pod?.url ?? `/api/v1/namespaces/${ns}/pods/web`;
    const tricks: [string, string][] = [
      ['"/.." after a name', `${p}/..`], ['a name ".."', `/api/v1/namespaces/${ns}/pods/..`], ['a name "%2e%2e"', `/api/v1/namespaces/${ns}/pods/%2e%2e`],
      ['"%2e%2e%2f" into another resource', `/api/v1/namespaces/${ns}/pods/%2e%2e%2fservices`], ['"%2F" in a name', `/api/v1/namespaces/${ns}/pods/web%2Fstatus`],
      ['"%2F" in a namespace', `/api/v1/namespaces/${ns}%2Fpods/web`], ['namespace ".."', '/api/v1/namespaces/../pods'], ['namespace "%2e%2e"', '/api/v1/namespaces/%2e%2e/pods'],
      ['an extra segment', `${p}/status/extra`], ['a subresource "..%2f.."', `${p}/..%2f..`], ['"%00" in a name', `/api/v1/namespaces/${ns}/pods/web%00`],
      ['malformed percent-encoding', `/api/v1/namespaces/${ns}/pods/%ZZ`], ['an overlong UTF-8 dot', `/api/v1/namespaces/${ns}/pods/%C0%AE%C0%AE`],
      ['an invalid UTF-8 byte', `/api/v1/namespaces/${ns}/pods/%FF`], ['a right-to-left mark', `/api/v1/namespaces/${ns}/pods/web%E2%80%AE`],
      ['a name of 254 characters', `/api/v1/namespaces/${ns}/pods/${'a'.repeat(254)}`], ['a name of 10,000 characters', `/api/v1/namespaces/${ns}/pods/${'a'.repeat(10_000)}`],
      ['a URL of 100,000 characters', `/api/v1/namespaces/${ns}/pods/${'a'.repeat(100_000)}`], ['a service name of 64 characters', `/api/v1/namespaces/${ns}/services/${'s'.repeat(64)}`],
      ['an unknown group', '/apis/nope.example.com/v1/things'], ['an unknown version', '/apis/apps/v2/deployments'], ['an old version', `/apis/apps/v1beta1/namespaces/${ns}/deployments`],
      ['core v2', '/api/v2/pods'], ['an unknown resource', `/api/v1/namespaces/${ns}/widgets`], ['pods in apps', `/apis/apps/v1/namespaces/${ns}/pods`],
      ['deployments in core', `/api/v1/namespaces/${ns}/deployments`], ['nodes in coordination', '/apis/coordination.k8s.io/v1/nodes'], ['exec', `${p}/exec`],
      ['attach', `${p}/attach`], ['portforward', `${p}/portforward`], ['a node proxy', `/api/v1/nodes/${ctx.nodeName}/proxy/x`], ['eviction', `${p}/eviction`],
      ['ephemeralcontainers', `${p}/ephemeralcontainers`], ['a namespaced kind without a namespace', '/api/v1/pods/web'], ['a namespaced node', `/api/v1/namespaces/${ns}/nodes/x`],
      ['namespace in capitals', '/api/v1/namespaces/UPPER/pods'], ['namespace "a_b"', '/api/v1/namespaces/a_b/pods'], ['namespace "-x"', '/api/v1/namespaces/-x/pods'],
      ['namespace of 64 characters', `/api/v1/namespaces/${'n'.repeat(64)}/pods`], ['namespace "%00"', '/api/v1/namespaces/%00/pods'], ['namespace with a dot', '/api/v1/namespaces/a.b/pods'],
      ['namespace "%ZZ"', '/api/v1/namespaces/%ZZ/pods'], ['a group "%2F"', '/apis/apps%2Fv1/deployments'], ['a join path with a slash', '/labkube/v1/join/'],
      ['a join path with ".."', '/labkube/v1/join/../join'], ['JOIN in capitals', '/labkube/v1/JOIN'], ['join v2', '/labkube/v2/join'], ['a backslash', `/api/v1/namespaces/${ns}/pods/..\\..\\x`],
      ['a fragment', `${p}#frag`], ['a status of a Namespace subresource trick', `/api/v1/namespaces/${ns}/status/x`], ['a query "%ZZ"', `/api/v1/namespaces/${ns}/pods?%ZZ=1&labelSelector=(`],
      ['scale of a pod', `${p}/scale`], ['binding of a deployment', `${deploy?.url ?? p}/binding`], ['finalize of a pod', `${p}/finalize`], ['log as a write', `${p}/log`],
    ];
    const readOk = new Set(['a name of 254 characters', 'a name of 10,000 characters', 'a service name of 64 characters']); // GET of a missing object: 404 either way
    fill('path', () => {
      const [what, path] = pick(tricks);
      const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND'] as const);
      if ((method === 'GET' || method === 'HEAD') && (readOk.has(what) || what === 'log as a write')) return;
      const r = pod?.resource ?? resources[0]!;
      const body = method === 'PATCH' ? json({ metadata: { labels: { fuzz: 'path' } } })
        : method === 'POST' && path.includes('/join') ? json({ nodeName: freshName() })
        : method === 'POST' || method === 'PUT' ? json({ ...forUpdate(pod?.object ?? forCreate(r, undefined, 'web')), metadata: { ...forUpdate(pod?.object ?? forCreate(r, undefined, 'web')).metadata, labels: { fuzz: 'path' } } })
        : undefined;
      const credential = path.includes('/join') ? pick(['join', 'join', 'admin', 'node'] as const) : pickCredential();
      add({ class: 'path', note: `${what} (${method})`, method, path, credential, ...(body !== undefined && { body, contentType: method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' }) });
    });
  }

  // --- Bad content types on otherwise valid writes -------------------------------------------------
  if (wanted.has('content-type')) {
    const forWrite = ['text/plain', 'application/xml', 'application/vnd.kubernetes.protobuf', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded',
      'application/jsonx', 'json', 'image/png', `application/${'x'.repeat(10_000)}`, 'application/json-patch+json', 'application/merge-patch+json',
      'application/strategic-merge-patch+json', 'application/apply-patch+yaml', 'application/json/extra'];
    const forPatch = ['application/json', 'application/yaml', 'text/plain', 'application/apply-patch+yaml', 'application/xml', 'application/merge-patch', 'application/json-patch', '*/*'];
    fill('content-type', () => {
      const t = anyTarget();
      const credential = t.resource.kind === 'Node' && random() < 0.4 ? 'node' : pickCredential();
      const shape = pick(['create', 'update', 'patch', 'join'] as const);
      if (shape === 'create') {
        const ct = pick(forWrite);
        add({ class: 'content-type', note: `create as ${ct.slice(0, 40)}`, method: 'POST', path: t.collection, contentType: ct, credential, body: validCreate(t.resource).body });
      } else if (shape === 'update') {
        const ct = pick(forWrite);
        add({ class: 'content-type', note: `update as ${ct.slice(0, 40)}`, method: 'PUT', path: t.url, contentType: ct, credential, body: json({ ...forUpdate(t.object), metadata: { ...forUpdate(t.object).metadata, labels: { ...t.object.metadata.labels, fuzz: 'ct' } } }) });
      } else if (shape === 'patch') {
        const ct = pick(forPatch);
        add({ class: 'content-type', note: `patch as ${ct}`, method: 'PATCH', path: t.url, contentType: ct, credential, body: json({ metadata: { labels: { fuzz: 'ct' } } }) });
      } else {
        const ct = pick(['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'application/json-patch+json']);
        add({ class: 'content-type', note: `join as ${ct}`, method: 'POST', path: '/labkube/v1/join', contentType: ct, credential: 'join', body: json({ nodeName: freshName() }) });
      }
    });
  }

  // --- Bad Authorization headers, and credentials used beyond their rights -------------------------
  if (wanted.has('auth')) {
    const a = ctx.tokens.admin;
    const headers: [string, string | undefined][] = [
      ['no Authorization', undefined], ['"Bearer" alone', 'Bearer'], ['"Bearer " and nothing', 'Bearer '], ['two tokens', `Bearer ${a} ${a}`],
      ['Basic auth', `Basic ${Buffer.from('admin:admin').toString('base64')}`], ['the admin token without "Bearer"', a], ['the admin token plus a character', `Bearer ${a}x`],
      ['the admin token less a character', `Bearer ${a.slice(0, -1)}`], ['the admin token in capitals', `Bearer ${a.toUpperCase() === a ? `${a}Z` : a.toUpperCase()}`],
      ['an 8 KB token', `Bearer ${'a'.repeat(8000)}`], ['a 20 KB token', `Bearer ${'a'.repeat(20_000)}`], ['"Token" scheme', `Token ${a}`],
      ['an unknown node-like token', `Bearer ${'0123456789abcdef'.repeat(4)}`], ['the join token with a suffix', `Bearer ${ctx.tokens.join}.x`], ['"Bearer" twice', `Bearer Bearer ${a}`],
      ['a token of control-free odd bytes', 'Bearer %00%0a'], ['a tab instead of a space', `Bearer\t${a}x`],
    ];
    fill('auth', () => {
      const t = anyTarget();
      const shape = pick(['forged', 'forged', 'forged', 'node-beyond', 'join-beyond', 'takeover', 'join-bad-name'] as const);
      if (shape === 'forged') {
        const [what, header] = pick(headers);
        const [method, path, body, ct] = pick([
          ['POST', t.collection, validCreate(t.resource).body, 'application/json'], ['DELETE', t.url, undefined, undefined], ['GET', t.url, undefined, undefined],
          ['PATCH', t.url, json({ metadata: { labels: { fuzz: 'auth' } } }), 'application/merge-patch+json'], ['POST', '/labkube/v1/join', json({ nodeName: freshName() }), 'application/json'],
          ['GET', '/metrics', undefined, undefined], ['GET', '/api/v1/pods', undefined, undefined], ['GET', '/openapi/v2', undefined, undefined],
        ] as const);
        add({ class: 'auth', note: `${what} on ${method} ${path.split('/').slice(-2).join('/')}`, method, path, credential: header === undefined ? 'none' : 'forged', ...(header !== undefined && { authorization: header }), ...(body !== undefined && { body, contentType: ct }) });
      } else if (shape === 'node-beyond') {
        const [what, method, path, body, ct] = pick([
          ['create a namespace', 'POST', '/api/v1/namespaces', json({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: freshName() } }), 'application/json'],
          ['create a pod', 'POST', `/api/v1/namespaces/${ns}/pods`, validCreate(pod?.resource ?? resources[0]!).body, 'application/json'],
          ['create another node', 'POST', '/api/v1/nodes', json({ apiVersion: 'v1', kind: 'Node', metadata: { name: freshName() } }), 'application/json'],
          ['patch a deployment', 'PATCH', deploy?.url ?? t.url, json({ spec: { replicas: 5 } }), 'application/merge-patch+json'],
          ['delete the namespace', 'DELETE', `/api/v1/namespaces/${ns}`, undefined, undefined],
          ['delete all pods', 'DELETE', `/api/v1/namespaces/${ns}/pods`, undefined, undefined],
          ['update a service', 'PUT', fixture('Service')?.url ?? t.url, json(forUpdate(fixture('Service')?.object ?? t.object)), 'application/json'],
          ['write a lease of another node', 'POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', json({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: freshName() } }), 'application/json'],
          ['join as another node', 'POST', '/labkube/v1/join', json({ nodeName: freshName() }), 'application/json'],
          ['scale a deployment', 'PUT', `${deploy?.url ?? t.url}/scale`, json({ spec: { replicas: 3 } }), 'application/json'],
          ['bind a pod', 'POST', `${pod?.url ?? t.url}/binding`, json({ target: { name: ctx.nodeName } }), 'application/json'],
        ] as const);
        add({ class: 'auth', note: `node credential: ${what}`, method, path, credential: 'node', ...(body !== undefined && { body, contentType: ct }) });
      } else if (shape === 'join-beyond') {
        const [method, path, body, ct] = pick([['POST', t.collection, validCreate(t.resource).body, 'application/json'], ['DELETE', t.url, undefined, undefined],
          ['PATCH', `${node?.url ?? t.url}/status`, json({ status: { conditions: [] } }), 'application/merge-patch+json'], ['PUT', t.url, json(forUpdate(t.object)), 'application/json']] as const);
        add({ class: 'auth', note: `join token: ${method} ${t.resource.plural}`, method, path, credential: 'join', ...(body !== undefined && { body, contentType: ct }) });
      } else if (shape === 'takeover') {
        add({ class: 'auth', note: 'join token: join as an existing node (takeover)', method: 'POST', path: '/labkube/v1/join', contentType: 'application/json', credential: 'join', body: json({ nodeName: ctx.nodeName }) });
      } else {
        const v = pick([42, '', 'UPPER', 'x'.repeat(300), {}, ['a'], null, 'a_b', '-x', '..', 'a/b', true]);
        add({ class: 'auth', note: `join with nodeName ${JSON.stringify(v).slice(0, 30)}`, method: 'POST', path: '/labkube/v1/join', contentType: 'application/json', credential: pick(['join', 'join', 'admin'] as const), body: json({ nodeName: v }) });
      }
    });
  }

  // Interleave the classes so that heavy requests land among light ones throughout the run.
  for (let i = cases.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [cases[i], cases[j]] = [cases[j]!, cases[i]!];
  }
  cases.forEach((c, i) => { c.id = i; });
  return cases;
}

/** One line that reproduces a case by hand: method, path, content type, credential, body excerpt. */
export function describeCase(c: FuzzCase, maxBody = 160): string {
  const body = c.body === undefined ? '' : ` body(${c.body.length} B)=${JSON.stringify(c.body.length > maxBody ? `${c.body.slice(0, maxBody)}…` : c.body)}`;
  const path = c.path.length > 160 ? `${c.path.slice(0, 160)}…(${c.path.length} chars)` : c.path;
  const auth = c.credential === 'forged' ? ` auth=${JSON.stringify((c.authorization ?? '').slice(0, 40))}` : '';
  return `#${c.id} [${c.class}] ${c.note} :: ${c.method} ${path} as ${c.credential}${auth}${c.contentType ? ` ct=${c.contentType.slice(0, 60)}` : ''}${body}`;
}
