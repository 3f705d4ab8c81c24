// Runs scripts/lab/load-client.mjs inside a board and reads its results: the Services e2e test
// (test/e2e/services.test.ts) and the Service benchmark (scripts/bench/service.ts) share it.
// The client runs in the board (its own network namespace), so traffic to pod and service
// addresses never leaves from this machine; only the board's own addresses are on the lab bridge.
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Lab } from './lab.ts';

const run = promisify(execFile);
const clientSource = join(import.meta.dirname, 'load-client.mjs');
/** On the board's root filesystem, not its /tmp: `docker cp` cannot write into a tmpfs mount. */
export const loadClientPath = '/usr/local/lib/labkube-load-client.mjs';

/** Copies the client into the board; it stays there across power cycles (the container's layer). */
export async function installLoadClient(lab: Lab, board: string): Promise<void> {
  await run('docker', ['cp', clientSource, `${lab.boardContainer(board)}:${loadClientPath}`], { timeout: 30_000 });
}

export interface LoadRequest { startMs: number; latencyMs: number; ok: boolean; detail: string }
export interface LoadResult {
  requests: number;
  failed: number;
  /** The longest time without a successful response, from the first request sent to the last. */
  maxGapMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Every request, in the order they ended; startMs is epoch milliseconds (the boards share this machine's clock). */
  lines: LoadRequest[];
}

const summaryField = (line: string, key: string): number => {
  const m = new RegExp(`\\b${key}=(\\S+)`).exec(line);
  return m ? Number(m[1]) : NaN;
};

export function parseLoadOutput(out: string): LoadResult {
  const lines: LoadRequest[] = [];
  let summary = '';
  for (const line of out.split('\n')) {
    const r = /^req (\S+) (\S+) (ok|fail) (.*)$/.exec(line);
    if (r) lines.push({ startMs: Number(r[1]), latencyMs: Number(r[2]), ok: r[3] === 'ok', detail: r[4]! });
    else if (line.startsWith('summary ')) summary = line;
  }
  if (!summary) throw new Error(`the load client printed no summary:\n${out.split('\n').slice(-20).join('\n')}`);
  return {
    requests: summaryField(summary, 'requests'), failed: summaryField(summary, 'failed'), maxGapMs: summaryField(summary, 'max_gap_ms'),
    p50Ms: summaryField(summary, 'p50_ms'), p99Ms: summaryField(summary, 'p99_ms'), lines,
  };
}

export interface LoadOptions {
  url: string;
  /** Requests per second; 20, the rate the Services goal is stated at. */
  rate?: number;
  /** Each request's whole time to answer; 2 s, as the goal states it. */
  timeoutMs?: number;
  /** Upper bound on the run, if stop() is never called. */
  maxDurationS: number;
  /** Resolve the URL's host at this DNS server before each request (Swarm's 127.0.0.11). */
  dns?: string;
  /** Run in this container's network namespace (a container on the board's own engine). */
  netnsOf?: string;
}

/** A load run in progress: stop() ends it (it closes the client's stdin) and returns its result. */
export interface LoadRun {
  stop(): Promise<LoadResult>;
  readonly done: Promise<LoadResult>;
  /** Requests ended so far, and how many of them succeeded. */
  progress(): { ended: number; ok: number };
}

export function startLoad(lab: Lab, board: string, o: LoadOptions): LoadRun {
  const client = ['node', loadClientPath, 'load', o.url, '--rate', String(o.rate ?? 20), '--timeout-ms', String(o.timeoutMs ?? 2000),
    '--duration-s', String(o.maxDurationS), '--until-stdin-eof', ...(o.dns ? ['--dns', o.dns] : [])];
  // nsenter -n: the board's node in a container's network namespace (the container may have no node).
  const command = o.netnsOf
    ? ['sh', '-c', `exec nsenter -t "$(docker inspect -f '{{.State.Pid}}' ${o.netnsOf})" -n "$@"`, 'sh', ...client]
    : client;
  const child = spawn('docker', ['exec', '-i', lab.boardContainer(board), ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdin.on('error', () => { /* the client already ended; its exit decides */ });
  // The client stops itself after maxDurationS and drains in-flight requests within a timeout.
  const killer = setTimeout(() => child.kill('SIGKILL'), (o.maxDurationS + 30) * 1000);
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      try { resolve(parseLoadOutput(stdout)); } catch (err) {
        reject(new Error(`load client on ${board} exited with ${code}: ${stderr.trim()}\n${(err as Error).message}`));
      }
    });
  });
  done.catch(() => { /* read through stop() or done */ });
  const progress = () => {
    const ended = stdout.match(/^req /gm)?.length ?? 0;
    return { ended, ok: stdout.match(/^req \S+ \S+ ok /gm)?.length ?? 0 };
  };
  return { done, progress, stop: () => { child.stdin.end(); return done; } };
}

/** Failed requests, each as "+SECONDS detail" after t0 (epoch ms), grouped by second and detail. */
export function describeFailures(r: LoadResult, t0: number): string[] {
  const groups = new Map<string, number>();
  for (const l of r.lines.filter((x) => !x.ok)) {
    const key = `+${((l.startMs - t0) / 1000).toFixed(0)}s ${l.detail}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([k, n]) => `${k}${n > 1 ? ` x${n}` : ''}`);
}

/** Requests sent in [fromMs, toMs), and how many of them failed. */
export function countBetween(r: LoadResult, fromMs: number, toMs: number): { requests: number; failed: number } {
  const inWindow = r.lines.filter((l) => l.startMs >= fromMs && l.startMs < toMs);
  return { requests: inWindow.length, failed: inWindow.filter((l) => !l.ok).length };
}

async function clientOnce(lab: Lab, board: string, args: string[], timeoutMs: number): Promise<string> {
  const out = await lab.exec(board, ['node', loadClientPath, ...args], timeoutMs);
  const summary = out.split('\n').find((l) => l.startsWith('summary '));
  if (!summary) throw new Error(`load client ${args[0]} printed no summary: ${out}`);
  return summary;
}

/** p50 and p90 of `count` sequential requests to url from inside `board`, each on a new connection. */
export async function measureLatency(lab: Lab, board: string, url: string, count: number): Promise<{ p50Ms: number; p90Ms: number; failed: number }> {
  const s = await clientOnce(lab, board, ['latency', url, '--count', String(count), '--warmup', '10', '--timeout-ms', '2000'], 30_000 + count * 2_000);
  return { p50Ms: summaryField(s, 'p50_ms'), p90Ms: summaryField(s, 'p90_ms'), failed: summaryField(s, 'failed') };
}

/** MB/s over `count` downloads of url from inside `board`, `concurrency` at a time, each on a new connection. */
export async function measureThroughput(lab: Lab, board: string, url: string, count: number, concurrency: number): Promise<{ mbPerS: number; failed: number }> {
  const s = await clientOnce(lab, board, ['throughput', url, '--count', String(count), '--concurrency', String(concurrency), '--timeout-ms', '30000'], 60_000 + count * 30_000);
  return { mbPerS: summaryField(s, 'mb_per_s'), failed: summaryField(s, 'failed') };
}

/** GET url from inside a board (python3, which every board has); the body, or throws. */
export async function httpGetFrom(lab: Lab, board: string, url: string, timeoutS = 2): Promise<string> {
  return lab.exec(board, ['python3', '-c',
    `import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=${timeoutS}).read().decode())`, url], (timeoutS + 5) * 1000);
}

/**
 * The lab bridge's interface on this machine, after checking that `ip route get` sends each of
 * `addresses` through it: the only addresses this machine may send lab traffic to.
 */
export async function assertRoutedToLab(lab: Lab, addresses: string[]): Promise<string> {
  const id = (await run('docker', ['network', 'inspect', '-f', '{{.Id}}', `${lab.options.name}-net`])).stdout.trim();
  const bridge = `br-${id.slice(0, 12)}`;
  for (const a of addresses) {
    const route = (await run('ip', ['route', 'get', a])).stdout;
    const dev = /\bdev (\S+)/.exec(route)?.[1];
    if (dev !== bridge) throw new Error(`refusing to send to ${a}: this machine routes it via ${dev ?? '?'}, not the lab bridge ${bridge}`);
  }
  return bridge;
}
