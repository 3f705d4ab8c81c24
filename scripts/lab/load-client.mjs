#!/usr/bin/env node
// HTTP clients that run INSIDE a simulated board, which has Node 18 and no npm: this one file,
// no dependencies, copied in with `docker cp` (scripts/lab/load.ts drives it). Three modes:
//
//   load URL --rate 20 --duration-s 60 [--timeout-ms 2000] [--dns 127.0.0.11] [--until-stdin-eof]
//       What a user of a Service feels: RATE requests per second, each on a NEW connection, each
//       given TIMEOUT to answer (connect + response + body), sent on schedule whether or not the
//       earlier ones have answered. One line per request as it ends:
//         req START_EPOCH_MS LATENCY_MS ok|fail DETAIL      (DETAIL: the status, or the error)
//       and last a summary (max_gap_ms: the longest time without a successful response, counting
//       from the first request sent to the last one sent):
//         summary requests=N failed=M max_gap_ms=X p50_ms=Y p99_ms=Z
//       --dns SERVER resolves the URL's host name at SERVER before each request (first A record),
//       as a client of DNS round robin does. --until-stdin-eof also stops when stdin closes, so
//       whoever started `docker exec -i` can end the run; --duration-s bounds it either way.
//   latency URL --count 200 [--warmup 10] [--timeout-ms 2000]
//       COUNT sequential requests, each on a new connection:
//         summary requests=N failed=M p50_ms=X p90_ms=Y max_ms=Z
//   throughput URL --count 10 [--concurrency 1] [--timeout-ms 30000]
//       COUNT downloads of URL (a large file), CONCURRENCY at a time, each on a new connection:
//         summary requests=N failed=M bytes=B seconds=S mb_per_s=R
import http from 'node:http';
import { Resolver } from 'node:dns/promises';
import { performance } from 'node:perf_hooks';

const usage = 'usage: load-client.mjs load|latency|throughput URL [--rate N] [--duration-s N] [--count N] [--warmup N] [--concurrency N] [--timeout-ms N] [--dns IP] [--until-stdin-eof]';
// Hard bounds, whatever the flags say: a forgotten run must end by itself.
const MAX_DURATION_S = 1800;
const MAX_COUNT = 100_000;

function parse(argv) {
  const [mode, url, ...rest] = argv;
  if (!['load', 'latency', 'throughput'].includes(mode) || !url) throw new Error(usage);
  const o = { mode, url: new URL(url), rate: 20, durationS: 30, count: 100, warmup: 10, concurrency: 1, timeoutMs: 2000, dns: '', untilStdinEof: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const num = () => {
      const v = Number(rest[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${flag} needs a non-negative number`);
      return v;
    };
    switch (flag) {
      case '--rate': o.rate = num(); break;
      case '--duration-s': o.durationS = Math.min(num(), MAX_DURATION_S); break;
      case '--count': o.count = Math.min(num(), MAX_COUNT); break;
      case '--warmup': o.warmup = Math.min(num(), MAX_COUNT); break;
      case '--concurrency': o.concurrency = Math.max(1, num()); break;
      case '--timeout-ms': o.timeoutMs = num(); break;
      case '--dns': o.dns = rest[++i] ?? ''; break;
      case '--until-stdin-eof': o.untilStdinEof = true; break;
      default: throw new Error(`unknown flag ${flag}\n${usage}`);
    }
  }
  if (o.rate <= 0) throw new Error('--rate must be positive');
  return o;
}

const now = () => performance.timeOrigin + performance.now();
const quantile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN);
const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'NaN');

/**
 * One GET on a fresh connection (no keep-alive agent), the whole of it bounded by timeoutMs.
 * Resolves { ok, detail, bytes }: ok when the status is 2xx and the body arrived.
 */
function get(o, resolver) {
  return new Promise((resolve) => {
    let req;
    let settled = false;
    const done = (ok, detail, bytes = 0) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      resolve({ ok, detail, bytes });
    };
    const timer = setTimeout(() => done(false, 'timeout'), o.timeoutMs);
    const host = o.url.hostname;
    const address = resolver
      ? resolver.resolve4(host).then((ips) => ips[0] ?? Promise.reject(Object.assign(new Error('no address'), { code: 'ENODATA' })))
      : Promise.resolve(host);
    address.then((ip) => {
      if (settled) return;
      req = http.request({
        host: ip, port: o.url.port || 80, path: `${o.url.pathname}${o.url.search}`, method: 'GET', agent: false,
        headers: { host: o.url.host, connection: 'close' },
      }, (res) => {
        let bytes = 0;
        res.on('data', (chunk) => { bytes += chunk.length; });
        res.on('end', () => done(res.statusCode >= 200 && res.statusCode < 300, String(res.statusCode), bytes));
        res.on('error', (err) => done(false, err.code ?? 'response-error'));
      });
      req.on('error', (err) => done(false, err.code ?? err.message.replace(/\s+/g, '-')));
      req.end();
    }, (err) => done(false, `dns-${err.code ?? 'error'}`));
  });
}

async function load(o) {
  const resolver = o.dns ? new Resolver({ timeout: Math.max(100, Math.floor(o.timeoutMs / 2)), tries: 1 }) : undefined;
  resolver?.setServers([o.dns]);
  const interval = 1000 / o.rate;
  const maxRequests = Math.ceil(o.rate * o.durationS);
  let stopped = false;
  if (o.untilStdinEof) {
    process.stdin.on('end', () => { stopped = true; });
    process.stdin.on('error', () => { stopped = true; });
    process.stdin.resume();
  }
  const t0 = now();
  const inflight = new Set();
  const okEnds = [];
  const latencies = [];
  let requests = 0;
  let failed = 0;
  let lastSent = t0;
  while (!stopped && requests < maxRequests) {
    const due = t0 + requests * interval;
    const wait = due - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stopped) break;
    const start = now();
    lastSent = start;
    requests++;
    const p = get(o, resolver).then((r) => {
      const end = now();
      const latency = end - start;
      if (r.ok) { okEnds.push(end); latencies.push(latency); } else failed++;
      process.stdout.write(`req ${start.toFixed(1)} ${ms(latency)} ${r.ok ? 'ok' : 'fail'} ${r.detail}\n`);
      inflight.delete(p);
    });
    inflight.add(p);
  }
  await Promise.all(inflight);
  okEnds.sort((a, b) => a - b);
  let maxGap = 0;
  let prev = t0;
  for (const e of okEnds) { maxGap = Math.max(maxGap, e - prev); prev = e; }
  maxGap = Math.max(maxGap, lastSent - prev);
  latencies.sort((a, b) => a - b);
  process.stdout.write(`summary requests=${requests} failed=${failed} max_gap_ms=${ms(maxGap)} p50_ms=${ms(quantile(latencies, 0.5))} p99_ms=${ms(quantile(latencies, 0.99))}\n`);
  if (o.untilStdinEof) process.stdin.destroy();
}

async function latency(o) {
  const latencies = [];
  let failed = 0;
  for (let i = 0; i < o.warmup + o.count; i++) {
    const start = now();
    const r = await get(o);
    if (i < o.warmup) continue;
    if (r.ok) latencies.push(now() - start); else failed++;
  }
  latencies.sort((a, b) => a - b);
  process.stdout.write(`summary requests=${o.count} failed=${failed} p50_ms=${ms(quantile(latencies, 0.5))} p90_ms=${ms(quantile(latencies, 0.9))} max_ms=${ms(latencies.at(-1))}\n`);
}

async function throughput(o) {
  let next = 0;
  let failed = 0;
  let bytes = 0;
  const t0 = now();
  const worker = async () => {
    while (next < o.count) {
      next++;
      const r = await get(o);
      if (r.ok) bytes += r.bytes; else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, worker));
  const seconds = (now() - t0) / 1000;
  process.stdout.write(`summary requests=${o.count} failed=${failed} bytes=${bytes} seconds=${seconds.toFixed(3)} mb_per_s=${(bytes / 1e6 / seconds).toFixed(2)}\n`);
}

try {
  const o = parse(process.argv.slice(2));
  await { load, latency, throughput }[o.mode](o);
} catch (err) {
  process.stderr.write(`load-client: ${err.message}\n`);
  process.exit(2);
}
