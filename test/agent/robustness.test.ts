// The pieces that keep the agent alive through lost networks and revoked credentials: the shared
// retry backoff, the client's deadlines, the join's retries, the log server's late bind and the
// process guard. Each runs here on its own, without Docker or a control plane.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { AgentClient } from '../../agent/api-client.ts';
import { retry, RetryBackoff, Wakeup } from '../../agent/backoff.ts';
import { LeaseRenewer } from '../../agent/lease.ts';
import { startLogServer } from '../../agent/logs-server.ts';
import { installProcessGuard } from '../../agent/main.ts';
import { NodeStatusReporter } from '../../agent/node-status.ts';
import { isUnauthorized, joinFailure, obtainCredential } from '../../agent/registration.ts';
import { ensureServingCerts } from '../../control-plane/apiserver/certs.ts';
import { ServiceUnavailableError, UnauthorizedError } from '../../control-plane/api/errors.ts';
import { resourceFor } from '../../control-plane/api/resources.ts';
import type { KubeClient } from '../../control-plane/client/client.ts';
import { FakeRuntime } from './fake-runtime.ts';

const pods = resourceFor('', 'pods')!;

/** A pino logger whose lines land in an array, to assert on what the agent says. */
function capturingLogger(level = 'debug') {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { logger: pino({ level }, sink), lines };
}

async function listen(server: Server | http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

test('the retry backoff doubles from its base to its cap, adds at most 20%, and starts over on reset', () => {
  const high = new RetryBackoff({ baseMs: 1_000, maxMs: 10_000 }, () => 1);
  const low = new RetryBackoff({ baseMs: 1_000, maxMs: 10_000 }, () => 0);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => low.next()), [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  const jittered = [1, 2, 3, 4, 5].map(() => high.next());
  assert.deepEqual(jittered, [1_200, 2_400, 4_800, 9_600, 12_000]);
  low.reset();
  assert.equal(low.next(), 1_000);
});

test('retry keeps calling until the attempt succeeds, choosing the backoff by the error', async () => {
  const fast = new RetryBackoff({ baseMs: 1, maxMs: 1 }, () => 0);
  const slow = new RetryBackoff({ baseMs: 500, maxMs: 500 }, () => 0);
  const waits: number[] = [];
  const errors = [new ServiceUnavailableError('down'), new UnauthorizedError('no'), new ServiceUnavailableError('down')];
  let calls = 0;
  const result = await retry(async () => { const e = errors[calls++]; if (e) throw e; return 'joined'; }, {
    backoff: (err) => (isUnauthorized(err) ? slow : fast),
    onError: (_err, ms) => waits.push(ms),
    sleep: async () => undefined,
  });
  assert.equal(result, 'joined');
  assert.equal(calls, 4);
  assert.deepEqual(waits, [1, 500, 1]);
});

test('retry ends with the abort reason when its signal aborts during a wait', async () => {
  const stop = new AbortController();
  const wakeup = new Wakeup();
  const running = retry(async () => { throw new Error('unreachable'); }, {
    backoff: new RetryBackoff({ baseMs: 60_000, maxMs: 60_000 }), onError: () => stop.abort(new Error('agent stopping')), signal: stop.signal, sleep: wakeup.sleep,
  });
  await assert.rejects(running, /agent stopping/);
});

test('a Wakeup ends every pending sleep at once', async () => {
  const wakeup = new Wakeup();
  const started = Date.now();
  const sleeps = [wakeup.sleep(60_000), wakeup.sleep(60_000)];
  setImmediate(() => wakeup.wake());
  await Promise.all(sleeps);
  assert.ok(Date.now() - started < 5_000);
});

test('a request to a server that never answers fails with a ConnectionError at its deadline, not when TCP gives up', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => { sockets.push(s); }); // accepts, reads nothing, answers nothing: a dropped network
  const port = await listen(silent);
  const client = new AgentClient({ server: `http://127.0.0.1:${port}`, token: 't', requestTimeoutMs: 300 });
  try {
    const started = Date.now();
    await assert.rejects(client.list(pods), (err: Error) => err instanceof ServiceUnavailableError && /ETIMEDOUT/.test(err.message));
    assert.ok(Date.now() - started < 5_000);
  } finally {
    client.close();
    sockets.forEach((s) => s.destroy());
    silent.close();
  }
});

test('a watch that goes quiet is ended, restartWatches ends open watches, and useToken changes the credential sent', async () => {
  const seenTokens: string[] = [];
  const open = new Set<http.ServerResponse>();
  const api = http.createServer((req, res) => {
    seenTokens.push(req.headers.authorization ?? '');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(''); // headers out, then silence: no event and no BOOKMARK
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  const port = await listen(api);
  const client = new AgentClient({ server: `http://127.0.0.1:${port}`, token: 'first', watchIdleMs: 300 });
  try {
    const started = Date.now();
    await client.watch(pods, 'default', {}, () => undefined); // returns: the idle deadline ended it
    assert.ok(Date.now() - started < 5_000);

    client.useToken('second');
    const ended = client.watch(pods, 'default', {}, () => undefined);
    await waitFor(() => seenTokens.length === 2);
    const longClient = new AgentClient({ server: `http://127.0.0.1:${port}`, token: 'third', watchIdleMs: 60_000 });
    const long = longClient.watch(pods, 'default', {}, () => undefined);
    await waitFor(() => seenTokens.length === 3);
    longClient.restartWatches();
    await long; // ended by restartWatches, long before its idle deadline
    longClient.close();
    await ended;
    assert.deepEqual(seenTokens, ['Bearer first', 'Bearer second', 'Bearer third']);
  } finally {
    client.close();
    open.forEach((r) => r.destroy());
    api.close();
  }
});

async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('joining retries an unreachable server and a 409, says how to fix the 409, and sends the current credential', async () => {
  const answers = [503, 409, 409, 201];
  const bodies: unknown[] = [];
  const auth: string[] = [];
  const api = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      auth.push(req.headers.authorization ?? '');
      const code = answers.shift()!;
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(code === 201 ? { nodeName: 'board-1', token: 'new-credential' }
        : { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason: code === 409 ? 'Conflict' : 'ServiceUnavailable', message: 'no' }));
    });
  });
  const port = await listen(api);
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-join-'));
  const { logger, lines } = capturingLogger();
  try {
    const token = await obtainCredential({
      server: `http://127.0.0.1:${port}`, ca: '', joinToken: 'join-secret', nodeName: 'board-1', dataDir, logger, currentToken: 'old-credential',
      sleep: async () => undefined,
    }, true);
    assert.equal(token, 'new-credential');
    assert.equal(readFileSync(join(dataDir, 'node-token'), 'utf8').trim(), 'new-credential');
    assert.deepEqual(bodies[0], { nodeName: 'board-1', currentToken: 'old-credential' });
    assert.ok(auth.every((a) => a === 'Bearer join-secret'));
    const taken = lines.filter((l) => /an admin must delete node board-1/.test(l.msg));
    assert.equal(taken.length, 2);
    assert.deepEqual(taken.map((l) => l.level), [50, 20], 'said once at error level, then at debug');
  } finally {
    api.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('join failures say what to do', () => {
  assert.match(joinFailure(new UnauthorizedError(), 'b').message, /join token/);
  assert.equal(joinFailure(new ServiceUnavailableError(), 'b').level, 'warn');
});

/** A cluster CA, made in a directory of its own as the control plane makes it. */
async function clusterCa() {
  const dir = mkdtempSync(join(tmpdir(), 'labkube-ca-'));
  try { return await ensureServingCerts(dir, ['127.0.0.1']); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('the log server starts unbound when its address is taken or missing, and binds once it is free', async () => {
  const blocker = createServer();
  const port = await listen(blocker);
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-logbind-'));
  const ca = (await clusterCa()).caPem;
  const wakeup = new Wakeup();
  try {
    const server = await startLogServer({ runtime: new FakeRuntime(), nodeName: 'board-1', ip: '127.0.0.1', port, caPem: ca, dataDir, sleep: wakeup.sleep });
    assert.equal(server.port, 0, 'not bound while the port is taken');
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    wakeup.wake();
    assert.equal(await server.bound, port);
    assert.equal(server.port, port);
    await server.close();
  } finally {
    blocker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a log server closed before it could bind stops trying', async () => {
  const blocker = createServer();
  const port = await listen(blocker);
  const dataDir = mkdtempSync(join(tmpdir(), 'labkube-logbind-'));
  try {
    const server = await startLogServer({ runtime: new FakeRuntime(), nodeName: 'board-1', ip: '127.0.0.1', port, caPem: (await clusterCa()).caPem, dataDir });
    await server.close();
    assert.equal(await server.bound, 0);
  } finally {
    blocker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a failed lease renewal is reported to the agent and the renewer keeps going', async () => {
  let calls = 0;
  const failures: unknown[] = [];
  const client = { patch: async () => { calls++; throw new UnauthorizedError(); } } as unknown as KubeClient;
  const renewer = new LeaseRenewer({ client, nodeName: 'board-1', intervalMs: 5, onFailed: (err) => failures.push(err) }).start();
  await waitFor(() => failures.length >= 3);
  renewer.stop();
  assert.ok(failures.every(isUnauthorized));
  assert.ok(calls >= 3);
});

test('a forced Node status write that fails with 401 is handed to the agent, not left to reject', async () => {
  const failures: unknown[] = [];
  const client = { patch: async () => { throw new UnauthorizedError(); } } as unknown as KubeClient;
  const runtime = new FakeRuntime();
  const facts = { cores: 2, memoryBytes: 2 ** 31, arch: 'amd64', os: 'linux', osImage: 'Linux', kernel: '6', hostname: 'h' };
  const reporter = new NodeStatusReporter({
    client, runtime, inputs: { name: 'board-1', ip: '127.0.0.1', port: 10250, facts, reserve: { cpuMilli: 0, memoryBytes: 0 }, maxPods: 10, runtimeVersion: 'fake' },
    onWriteFailed: (err) => failures.push(err),
  });
  reporter.writeNow();
  reporter.setLogPort(10251);
  await waitFor(() => failures.length === 2, 20_000);
  assert.ok(failures.every(isUnauthorized));
  await reporter.stop();
});

test('the process guard counts unhandled rejections and network errors and keeps running; it exits on a programming error', () => {
  const proc = new EventEmitter();
  const exits: number[] = [];
  const { logger, lines } = capturingLogger();
  const guard = installProcessGuard(logger, proc, (code) => exits.push(code));
  proc.emit('unhandledRejection', new ServiceUnavailableError('cannot reach the API server: ENETUNREACH'));
  proc.emit('unhandledRejection', 'a string');
  proc.emit('uncaughtException', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' }));
  assert.equal(guard.unhandledRejections, 2);
  assert.equal(guard.uncaughtExceptions, 1);
  assert.deepEqual(exits, []);
  assert.equal(lines.filter((l) => l.level === 50).length, 3);
  proc.emit('uncaughtException', new TypeError('x is undefined'));
  assert.deepEqual(exits, [1]);
});

test('a watch on a kept-alive connection that the server resets mid-stream rejects once, and nothing is left to reject unhandled', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const sockets = new Set<Socket>();
  const api = http.createServer((req, res) => {
    if (!req.url!.includes('watch')) return res.end('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('');
    // The control plane dies: it stops listening and its connections are reset.
    setTimeout(() => { api.close(); sockets.forEach((s) => s.resetAndDestroy()); }, 50);
  });
  api.on('connection', (s) => sockets.add(s));
  const port = await listen(api);
  const client = new AgentClient({ server: `http://127.0.0.1:${port}`, token: 't' });
  try {
    await client.list(pods); // leaves a kept-alive connection for the watch to reuse
    await assert.rejects(client.watch(pods, 'default', {}, () => undefined), /ECONNRESET|aborted/);
    // A re-sent request (the reused-socket retry) would fail against the closed port within milliseconds.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(unhandled.map((e) => (e as Error).message), []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    client.close();
  }
});
