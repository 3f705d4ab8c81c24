// Runs the generated bad requests (fuzz-requests.ts) against a real server process over HTTPS,
// a bounded number in flight, while a worker thread polls /healthz every 100 ms. Before and after,
// it snapshots every object the admin can list; between chunks it reads the store's revision, so
// a write made by a rejected request is caught and placed within a hundred requests.
// Used by test/apiserver/fuzz.test.ts and scripts/bench/fuzz.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { KubeObject } from '../../control-plane/api/meta.ts';
import { resources } from '../../control-plane/api/resources.ts';
import { ensureBundle, freePort, serverNodeFlags } from './process.ts';
import { eventually } from './server.ts';
import { describeCase, fixtureSteps, fixtureUrl, type Fixture, type FuzzCase, type FuzzContext } from './fuzz-requests.ts';

export interface FuzzServer {
  child: ChildProcess;
  url: string;
  ca: string;
  dataDir: string;
  tokens: { admin: string; join: string };
  output(): string;
  /** Why the server process ended, if it did. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

const root = join(import.meta.dirname, '..', '..');
// tsx compiles the server on start; on a busy 2-core box that alone can pass 20 s.
const serverStartTimeoutMs = 120_000;

/**
 * Starts `labkube server` as a child process (tsx from source, or the bundle). The node grace
 * period is an hour, so a Node with no agent keeps its Ready condition and nothing is evicted:
 * during the fuzz the only writer is the fuzz. A server that does not start is killed, not left
 * holding the test open.
 */
export async function startFuzzServer(options: { bundled?: boolean } = {}): Promise<FuzzServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-fuzz-'));
  if (options.bundled) ensureBundle();
  const port = await freePort();
  const program = options.bundled ? [...serverNodeFlags, join(root, 'dist/labkube.mjs')] : [join(root, 'bin/labkube.mjs')];
  const child = spawn(process.execPath, [...program, 'server', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--node-grace-period', '3600'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  // Keep the start and the end of the log: a crash's last words are at the end.
  const append = (d: Buffer) => { output += d; if (output.length > 200_000) output = output.slice(0, 50_000) + output.slice(-100_000); };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exitReason: string | undefined;
  child.once('exit', (code, signal) => { exitReason = `server exited (code ${code}, signal ${signal}): ${output.slice(-1500)}`; });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(forced);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await eventually(() => output.includes('control plane listening') || (exitReason ? Promise.reject(new Error(exitReason)) : false), serverStartTimeoutMs, 'the server to start');
  } catch (err) {
    await stop();
    throw err;
  }
  const read = (f: string) => readFileSync(join(dataDir, f), 'utf8').trim();
  return {
    child, url: `https://127.0.0.1:${port}`, ca: read('ca.crt'), dataDir, tokens: { admin: read('admin-token'), join: read('join-token') },
    output: () => output, exited: () => exitReason, stop,
  };
}

export interface HttpResult { status?: number; error?: string; ms: number; body: string; contentType?: string; retried?: boolean }

export interface HttpRequest { method: string; path: string; authorization?: string; contentType?: string; body?: string }

// The longest a single request may take: a stall shows in /healthz long before; this only ends the run.
const requestTimeoutMs = 60_000;
// Enough of a response to show what went wrong.
const keptBodyBytes = 4096;

export class FuzzClient {
  private readonly agent: https.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(url: string, ca: string, maxSockets: number) {
    const u = new URL(url);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.agent = new https.Agent({ keepAlive: true, maxSockets, ca });
  }

  /** Sends one request; keeps the first `keep` bytes of the answer. */
  async send(req: HttpRequest, keep = keptBodyBytes): Promise<HttpResult> {
    const first = await this.once(req, keep);
    // A kept-alive socket the server closed just as we reused it is the client's race, not a drop.
    if (first.error && first.reusedSocket && /ECONNRESET|socket hang up|EPIPE/.test(first.error)) {
      const second = await this.once(req, keep);
      return { ...second, retried: true };
    }
    return first;
  }

  private once(req: HttpRequest, keep: number): Promise<HttpResult & { reusedSocket?: boolean }> {
    const started = performance.now();
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: Omit<HttpResult, 'ms'> & { reusedSocket?: boolean }) => {
        if (done) return;
        done = true;
        resolve({ ...r, ms: performance.now() - started });
      };
      const headers: Record<string, string | number> = {};
      if (req.authorization !== undefined) headers.authorization = req.authorization;
      if (req.contentType !== undefined) headers['content-type'] = req.contentType;
      const payload = req.body === undefined ? undefined : Buffer.from(req.body);
      if (payload) headers['content-length'] = payload.length;
      let r: ReturnType<typeof https.request>;
      // Once a status line has arrived the server has answered, whatever happens to the socket after.
      let answered: { status: number; contentType: string; chunks: Buffer[] } | undefined;
      const answer = () => finish({ status: answered!.status, body: Buffer.concat(answered!.chunks).toString('utf8').slice(0, keep), contentType: answered!.contentType });
      try {
        r = https.request({ agent: this.agent, host: this.host, port: this.port, method: req.method, path: req.path, headers, timeout: requestTimeoutMs }, (res) => {
          answered = { status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), chunks: [] };
          // An accepted watch streams until it times out: its status is the answer.
          if (answered.status < 300 && /[?&]watch=/.test(req.path)) {
            finish({ status: answered.status, body: '(watch stream opened)', contentType: answered.contentType });
            r.destroy();
            return;
          }
          let kept = 0;
          res.on('data', (c: Buffer) => { if (kept < keep) { answered!.chunks.push(c); kept += c.length; } });
          res.on('end', answer);
          res.on('error', answer);
          res.on('aborted', answer);
        });
      } catch (err) {
        finish({ error: `client could not send: ${(err as Error).message}`, body: '' });
        return;
      }
      r.on('timeout', () => r.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
      r.on('error', (err: NodeJS.ErrnoException) => {
        if (answered) answer();
        else finish({ error: `${err.code ?? ''} ${err.message}${r.reusedSocket ? ' (on a reused connection)' : ''}`.trim(), body: '', reusedSocket: r.reusedSocket });
      });
      if (payload) r.end(payload); else r.end();
    });
  }

  async json(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- API responses of every shape
    // Read whole: an object can be longer than what a fuzz answer keeps.
    const res = await this.send({ method, path, authorization: `Bearer ${token}`, ...(body !== undefined && { contentType: 'application/json', body: JSON.stringify(body) }) }, Infinity);
    if (res.status === undefined) throw new Error(`${method} ${path}: ${res.error}`);
    return { status: res.status, body: res.body ? safeParse(res.body) : undefined };
  }

  close(): void { this.agent.destroy(); }
}

function safeParse(s: string): unknown {
  try { return JSON.parse(s); } catch { return s; }
}

/** A GET that reads the whole body (lists for snapshots). */
function getAll(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: requestTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('snapshot request timed out')));
  });
}

export interface Snapshot { revision: string; objects: Map<string, string> }

/** Every object of every kind, as the admin lists them, keyed by kind, namespace and name. */
export async function snapshotStore(server: FuzzServer): Promise<Snapshot> {
  const objects = new Map<string, string>();
  let revision = '';
  for (const r of resources) {
    const path = `/${r.group ? `apis/${r.group}` : 'api'}/${r.version}/${r.plural}`;
    const res = await getAll(`${server.url}${path}`, server.ca, server.tokens.admin);
    if (res.status !== 200) throw new Error(`listing ${path} for the snapshot answered ${res.status}: ${res.body.slice(0, 300)}`);
    const list = JSON.parse(res.body) as { metadata: { resourceVersion: string }; items: KubeObject[] };
    if (r.storage === 'disk') revision = list.metadata.resourceVersion;
    for (const o of list.items) objects.set(`${r.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, JSON.stringify(o));
  }
  return { revision, objects };
}

/** The store's revision (every durable write moves it, node credentials included). */
async function storeRevision(server: FuzzServer): Promise<string> {
  const res = await getAll(`${server.url}/api/v1/namespaces?limit=1`, server.ca, server.tokens.admin);
  return (JSON.parse(res.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
}

export function diffSnapshots(before: Snapshot, after: Snapshot): string[] {
  const out: string[] = [];
  for (const [key, value] of after.objects) {
    const was = before.objects.get(key);
    if (was === undefined) out.push(`added ${key}: ${value.slice(0, 300)}`);
    else if (was !== value) out.push(`changed ${key}: ${firstDifference(was, value)}`);
  }
  for (const key of before.objects.keys()) if (!after.objects.has(key)) out.push(`removed ${key}`);
  return out;
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `…${a.slice(Math.max(0, i - 80), i + 120)}… became …${b.slice(Math.max(0, i - 80), i + 120)}…`;
}

/** Polls until two snapshots half a second apart, three times running, are the same. */
async function waitForQuiet(server: FuzzServer, timeoutMs = 60_000): Promise<Snapshot> {
  const deadline = Date.now() + timeoutMs;
  let last = await snapshotStore(server);
  for (let stable = 0; stable < 3;) {
    if (Date.now() > deadline) throw new Error(`the store kept changing after setup: ${diffSnapshots(last, await snapshotStore(server)).join('\n')}`);
    await new Promise((r) => setTimeout(r, 500));
    const next = await snapshotStore(server);
    stable = diffSnapshots(last, next).length === 0 && next.revision === last.revision ? stable + 1 : 0;
    last = next;
  }
  return last;
}

/** Joins a node, creates the fixtures, waits for the controllers to settle, and reads the fixtures back. */
export async function setUpFixtures(server: FuzzServer, namespace = 'fuzz', nodeName = 'fuzz-node'): Promise<{ ctx: FuzzContext; before: Snapshot }> {
  const client = new FuzzClient(server.url, server.ca, 2);
  try {
    const joined = await client.json('POST', '/labkube/v1/join', server.tokens.join, { nodeName });
    if (joined.status !== 201 || typeof joined.body?.token !== 'string') throw new Error(`join answered ${joined.status}: ${JSON.stringify(joined.body)}`);
    const tokens = { admin: server.tokens.admin, join: server.tokens.join, node: joined.body.token as string };
    for (const step of fixtureSteps(namespace, nodeName)) {
      const res = await client.json(step.method, step.path, tokens[step.credential], step.body);
      if (res.status !== 201) throw new Error(`creating fixture ${step.path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
    }
    const before = await waitForQuiet(server);
    const fixtures = new Map<string, Fixture>();
    for (const r of resources) {
      const at = fixtureUrl(r, namespace, nodeName);
      if (!at) continue;
      const res = await client.json('GET', at.url, tokens.admin);
      if (res.status === 200) fixtures.set(r.kind, { resource: r, object: res.body as KubeObject, ...at });
    }
    return { ctx: { namespace, nodeName, tokens, fixtures }, before };
  } finally {
    client.close();
  }
}

// --- /healthz, from a worker thread so that the fuzz's own work does not delay its timing -------

export interface HealthzStats {
  polls: number; maxMs: number; over1s: number; errors: string[];
  /** The slowest polls over half a second: when they were sent (epoch ms) and how long they took. */
  slow: { startedAt: number; ms: number }[];
}

// Plain JavaScript, evaluated in the worker: no loader needed there.
const healthzWorker = `
const { parentPort, workerData } = require('node:worker_threads');
const https = require('node:https');
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: workerData.ca });
const stats = { polls: 0, maxMs: 0, over1s: 0, errors: [], slow: [] };
let stopping = false;
parentPort.on('message', () => { stopping = true; });
function poll() {
  if (stopping) { parentPort.postMessage(stats); agent.destroy(); return; }
  const started = performance.now();
  const startedAt = Date.now();
  let done = false;
  const finish = (error) => {
    if (done) return;
    done = true;
    const ms = performance.now() - started;
    stats.polls++;
    stats.maxMs = Math.max(stats.maxMs, ms);
    if (ms > 1000) stats.over1s++;
    if (ms > 500) { stats.slow.push({ startedAt, ms }); stats.slow.sort((a, b) => b.ms - a.ms); stats.slow.length = Math.min(stats.slow.length, 5); }
    if (error && stats.errors.length < 20) stats.errors.push(error);
    setTimeout(poll, Math.max(0, 100 - ms));
  };
  const attempt = (retry) => {
    const req = https.get(workerData.url + '/healthz', { agent, timeout: 120000 }, (res) => {
      res.resume();
      res.on('end', () => finish(res.statusCode === 200 ? undefined : 'status ' + res.statusCode));
      res.on('error', (e) => finish(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 120 s')));
    // A kept-alive socket the server closed as we reused it: ask again on a new one.
    req.on('error', (e) => (retry && req.reusedSocket ? attempt(false) : finish(e.message)));
  };
  attempt(true);
}
poll();
`;

export function pollHealthz(url: string, ca: string): { stop(): Promise<HealthzStats> } {
  const worker = new Worker(healthzWorker, { eval: true, workerData: { url, ca } });
  return {
    stop: () => new Promise((resolve, reject) => {
      worker.once('message', (stats: HealthzStats) => { void worker.terminate(); resolve(stats); });
      worker.once('error', reject);
      worker.postMessage('stop');
    }),
  };
}

// --- The run -------------------------------------------------------------------------------------

export type FailureKind = 'server-error' | 'dropped' | 'accepted' | 'wrote';

export interface Outcome { c: FuzzCase; res: HttpResult }
/** When a request was in flight (epoch ms), to find what was running while /healthz was slow. */
export interface Flight { c: FuzzCase; from: number; to: number }
export interface Failure { kind: FailureKind; c: FuzzCase; res?: HttpResult; detail?: string }

export interface FuzzReport {
  requests: number;
  byStatus: Map<string, number>;
  failures: Failure[];
  /** 2xx answers to cases the server may ignore, that wrote nothing. */
  ignored: number;
  /** 4xx answers whose body is not a Kubernetes Status. */
  notStatus: Outcome[];
  healthz: HealthzStats;
  storeChanges: string[];
  revisionMoves: { from: string; to: string; cases: FuzzCase[] }[];
  serverExit?: string;
  durationMs: number;
  /** Time spent waiting for answers, by class, and the slowest requests. */
  timing: Map<string, { count: number; totalMs: number; maxMs: number }>;
  slowest: Outcome[];
  flights: Flight[];
}

export interface RunOptions {
  /** Requests in flight at once. */
  concurrency?: number;
  /** Requests between two reads of the store's revision. */
  chunkSize?: number;
  onProgress?: (done: number, total: number) => void;
}

// Eight in flight loads a 2-core server fully without queueing so deep that timing means nothing.
const defaultConcurrency = 8;
// A revision read every hundred requests places a stray write closely enough to bisect by hand.
const defaultChunkSize = 100;

export async function runFuzz(server: FuzzServer, ctx: FuzzContext, before: Snapshot, cases: FuzzCase[], options: RunOptions = {}): Promise<FuzzReport> {
  const started = performance.now();
  const concurrency = options.concurrency ?? defaultConcurrency;
  const chunkSize = options.chunkSize ?? defaultChunkSize;
  const client = new FuzzClient(server.url, server.ca, concurrency);
  const healthz = pollHealthz(server.url, server.ca);
  const byStatus = new Map<string, number>();
  const failures: Failure[] = [];
  const notStatus: Outcome[] = [];
  const revisionMoves: FuzzReport['revisionMoves'] = [];
  // The last resourceVersion seen of each fixture: a 2xx that names it again wrote nothing.
  const latestRv = new Map([...ctx.fixtures.values()].map((f) => [f.url, f.object.metadata.resourceVersion]));
  const originalRv = new Map(latestRv);
  let ignored = 0;
  let done = 0;
  let revision = before.revision;

  const timing = new Map<string, { count: number; totalMs: number; maxMs: number }>();
  const flights: Flight[] = [];
  const slowest: Outcome[] = [];
  const judge = (c: FuzzCase, res: HttpResult) => {
    const t = timing.get(c.class) ?? { count: 0, totalMs: 0, maxMs: 0 };
    timing.set(c.class, { count: t.count + 1, totalMs: t.totalMs + res.ms, maxMs: Math.max(t.maxMs, res.ms) });
    slowest.push({ c, res });
    slowest.sort((a, b) => b.res.ms - a.res.ms);
    if (slowest.length > 10) slowest.pop();
    const key = res.status === undefined ? 'dropped' : String(res.status);
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    if (res.status === undefined) { failures.push({ kind: 'dropped', c, res }); return; }
    if (res.status >= 500) { failures.push({ kind: 'server-error', c, res }); return; }
    if (res.status >= 400) {
      if (c.method !== 'HEAD' && !isStatusBody(res.body, res.status)) notStatus.push({ c, res });
      return;
    }
    const url = c.path.split('?')[0]!.replace(/\/(status|scale)$/, '');
    const rv = (safeParse(res.body) as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
    if (c.mayIgnore && res.status < 300 && latestRv.has(url) && rv === latestRv.get(url)) { ignored++; return; }
    // Sent as the object was at setup, an update of an object an earlier accepted request changed writes it back:
    // a consequence of that request, listed apart so the first cause stands out.
    const knockOn = c.mayIgnore && latestRv.has(url) && latestRv.get(url) !== originalRv.get(url);
    if (rv !== undefined && latestRv.has(url)) latestRv.set(url, rv);
    failures.push({ kind: 'accepted', c, res, ...(knockOn && { detail: 'knock-on: the object had already been changed by an earlier accepted request' }) });
  };

  try {
    for (let i = 0; i < cases.length; i += chunkSize) {
      const chunk = cases.slice(i, i + chunkSize);
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(concurrency, chunk.length) }, async () => {
        while (next < chunk.length) {
          const c = chunk[next++]!;
          const from = Date.now();
          const res = await client.send({ method: c.method, path: c.path, ...(c.authorization !== undefined && { authorization: c.authorization }),
            ...(c.contentType !== undefined && { contentType: c.contentType }), ...(c.body !== undefined && { body: c.body }) });
          flights.push({ c, from, to: Date.now() });
          judge(c, res);
          done++;
        }
      }));
      options.onProgress?.(done, cases.length);
      if (server.exited()) break;
      const now = await storeRevision(server).catch(() => revision);
      if (now !== revision) {
        revisionMoves.push({ from: revision, to: now, cases: chunk });
        revision = now;
      }
    }
  } finally {
    client.close();
  }
  const health = await healthz.stop();
  const serverExit = server.exited();
  let storeChanges: string[] = [];
  if (!serverExit) {
    const after = await snapshotStore(server);
    storeChanges = diffSnapshots(before, after);
    if (storeChanges.length === 0 && after.revision !== before.revision) {
      storeChanges.push(`the store's revision moved from ${before.revision} to ${after.revision} with no object changed (a write the admin cannot list, such as a node credential)`);
    }
  }
  // Requests that answered 2xx are the likely writers; a rejected request that wrote shows as a revision move.
  for (const move of revisionMoves) {
    if (!move.cases.some((c) => failures.some((f) => f.c === c && f.kind === 'accepted'))) {
      failures.push({ kind: 'wrote', c: move.cases[0]!, detail: `the store's revision moved ${move.from} -> ${move.to} during cases #${move.cases[0]!.id}..#${move.cases[move.cases.length - 1]!.id} and none of them was accepted (or a controller reacted late to an earlier accepted write)` });
    }
  }
  return {
    requests: done, byStatus, failures, ignored, notStatus, healthz: health, storeChanges, revisionMoves,
    ...(serverExit && { serverExit }), durationMs: performance.now() - started, timing, slowest, flights,
  };
}

/** Whether a body is a Kubernetes Status for `code` (the body may be cut short: look at its start). */
function isStatusBody(body: string, code: number): boolean {
  return /^\s*\{[^{]*"kind"\s*:\s*"Status"/.test(body) && new RegExp(`"code"\\s*:\\s*${code}\\b`).test(body);
}

/** The headline figures, as `npm run bench:fuzz` prints them. */
export function headline(report: FuzzReport): string {
  const non4xx = report.failures.filter((f) => f.kind !== 'wrote').length;
  return `requests=${report.requests} non_4xx=${non4xx} max_healthz_ms=${Math.round(report.healthz.maxMs)} store_changed=${report.storeChanges.length}`;
}

/**
 * Failures grouped by class, kind and the first words of their note, each with the smallest
 * request that shows it: the lines to hand to whoever fixes it.
 */
export function summarize(report: FuzzReport, seed: number, maxGroups = 60): string {
  const lines: string[] = [`seed ${seed} (LABKUBE_FUZZ_SEED=${seed} reproduces this run)`];
  lines.push(`${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s; answers ${[...report.byStatus].sort().map(([k, v]) => `${k}:${v}`).join(' ')}`);
  lines.push(`/healthz: ${report.healthz.polls} polls, max ${Math.round(report.healthz.maxMs)} ms, ${report.healthz.over1s} over 1 s${report.healthz.errors.length ? `, errors: ${report.healthz.errors.slice(0, 3).join('; ')}` : ''}`);
  lines.push(`time by class: ${[...report.timing].map(([k, t]) => `${k} ${t.count}x avg ${Math.round(t.totalMs / t.count)} ms max ${Math.round(t.maxMs)} ms`).join('; ')}`);
  lines.push('slowest:', ...report.slowest.slice(0, 5).map((o) => `  ${Math.round(o.res.ms)} ms -> ${o.res.status ?? o.res.error} ${describeCase(o.c, 60)}`));
  for (const poll of report.healthz.slow.slice(0, 3)) {
    const during = report.flights.filter((f) => f.from < poll.startedAt + poll.ms && f.to > poll.startedAt - 200)
      .sort((a, b) => (b.c.body?.length ?? 0) - (a.c.body?.length ?? 0)).slice(0, 3);
    lines.push(`/healthz took ${Math.round(poll.ms)} ms while these (largest first) were in flight:`, ...during.map((f) => `  ${describeCase(f.c, 60)}`));
  }
  if (report.ignored) lines.push(`${report.ignored} requests named a field the server ignores and were answered 2xx without a write (allowed)`);
  if (report.serverExit) lines.push(`SERVER DIED: ${report.serverExit}`);
  const groups = new Map<string, Failure[]>();
  for (const f of report.failures) {
    const key = `${f.kind} ${f.c.class}: ${groupNote(f.c.note)}${f.detail?.startsWith('knock-on') ? ' (knock-on of an earlier accepted write)' : ''}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const knockOn = (key: string) => (key.endsWith('(knock-on of an earlier accepted write)') ? 1 : 0);
  const sorted = [...groups].sort((a, b) => knockOn(a[0]) - knockOn(b[0]) || b[1].length - a[1].length);
  if (sorted.length) lines.push(`${report.failures.length} failures in ${groups.size} groups:`);
  for (const [key, list] of sorted.slice(0, maxGroups)) {
    const smallest = [...list].sort((a, b) => (a.c.body?.length ?? 0) + a.c.path.length - (b.c.body?.length ?? 0) - b.c.path.length)[0]!;
    const answer = smallest.res ? (smallest.res.status !== undefined ? `-> ${smallest.res.status} ${smallest.res.body.slice(0, 200).replace(/\s+/g, ' ')}` : `-> ${smallest.res.error}`) : `-> ${smallest.detail}`;
    lines.push(`  [${list.length}x] ${key}\n      e.g. ${describeCase(smallest.c)}\n      ${answer}`);
  }
  if (sorted.length > maxGroups) lines.push(`  … and ${sorted.length - maxGroups} more groups`);
  if (report.storeChanges.length) lines.push(`store changed (${report.storeChanges.length}):`, ...report.storeChanges.slice(0, 20).map((s) => `  ${s.slice(0, 600)}`));
  if (report.notStatus.length) {
    const byCode = new Map<string, Outcome>();
    for (const o of report.notStatus) byCode.set(`${o.res.status} ${o.c.class}`, byCode.get(`${o.res.status} ${o.c.class}`) ?? o);
    lines.push(`${report.notStatus.length} 4xx answers were not a Kubernetes Status (not a failure here), e.g.:`,
      ...[...byCode.values()].slice(0, 8).map((o) => `  ${o.res.status} ${JSON.stringify(o.res.body.slice(0, 120))} for ${describeCase(o.c, 60)}`));
  }
  return lines.join('\n');
}

/** "1e308 at Pod spec.containers[0].ports[0].containerPort (update)" -> "1e308 at Pod …": groups the same mistake. */
function groupNote(note: string): string {
  const m = /^(.*?) at (\S+) (\S+)(.*)$/.exec(note);
  if (m) return `${m[1]} at ${m[2]} … ${m[4].trim()}`;
  return note.replace(/\d{3,}/g, 'N').slice(0, 80);
}
