// Hook: liveness, readiness and startup probes (httpGet, tcpSocket, exec) with Kubernetes'
// defaults. `runProbe` runs one check; `ContainerProber` runs a container's probes on their
// periods and reports changes: started, ready, and a liveness failure (the worker then stops
// the container and the restart policy takes over).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Container, Probe } from '../../control-plane/api/core.ts';
import type { ContainerRuntime } from '../runtime/types.ts';

export interface ProbeTarget { containerId: string; ip?: string; ports: Container['ports'] }
export interface ProbeResult { ok: boolean; message?: string }

// Kubernetes' defaults (pkg/apis/core/v1/defaults.go): every 10 s, 1 s timeout, 1 success, 3 failures.
export const probeDefaults = { periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3, initialDelaySeconds: 0 };

function resolvePort(port: number | string, target: ProbeTarget): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = target.ports?.find((p) => p.name === port);
  if (!named) throw new Error(`no container port named "${port}"`);
  return named.containerPort;
}

function httpProbe(get: NonNullable<Probe['httpGet']>, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const host = get.host || target.ip;
  if (!host) return Promise.resolve({ ok: false, message: 'the container has no IP address' });
  const transport = get.scheme === 'HTTPS' ? https : http;
  return new Promise((resolve) => {
    const req = transport.request({
      host, port: resolvePort(get.port, target), path: get.path ?? '/', method: 'GET', timeout: timeoutMs,
      headers: { 'User-Agent': 'kube-probe/labkube', ...Object.fromEntries((get.httpHeaders ?? []).map((h) => [h.name, h.value])) },
      rejectUnauthorized: false, // the kubelet does not verify probe certificates either
    }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? { ok: true } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, message: `Get "http://${host}": ${err.message}` }));
    req.end();
  });
}

function tcpProbe(sock: NonNullable<Probe['tcpSocket']>, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const host = sock.host || target.ip;
  if (!host) return Promise.resolve({ ok: false, message: 'the container has no IP address' });
  return new Promise((resolve) => {
    const s = net.connect({ host, port: resolvePort(sock.port, target), timeout: timeoutMs });
    s.once('connect', () => { s.destroy(); resolve({ ok: true }); });
    s.once('timeout', () => { s.destroy(); resolve({ ok: false, message: `dial tcp ${host}: i/o timeout` }); });
    s.once('error', (err) => resolve({ ok: false, message: `dial tcp ${host}: ${err.message}` }));
  });
}

export async function runProbe(probe: Probe, target: ProbeTarget, runtime: ContainerRuntime): Promise<ProbeResult> {
  const timeoutMs = (probe.timeoutSeconds ?? probeDefaults.timeoutSeconds) * 1000;
  try {
    if (probe.httpGet) return await httpProbe(probe.httpGet, target, timeoutMs);
    if (probe.tcpSocket) return await tcpProbe(probe.tcpSocket, target, timeoutMs);
    if (probe.exec) {
      const r = await runtime.exec(target.containerId, probe.exec.command, timeoutMs);
      return r.exitCode === 0 ? { ok: true } : { ok: false, message: `command exited with ${r.exitCode}: ${r.output.trim().slice(0, 200)}` };
    }
    return { ok: false, message: 'the probe has no handler' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

type Kind = 'startup' | 'liveness' | 'readiness';

/** Consecutive results against the thresholds: the probe's verdict changes only when one is crossed. */
export class ProbeVerdict {
  private successes = 0;
  failures = 0;
  constructor(private readonly probe: Probe, public passing: boolean) {}
  /** Returns true when the verdict changed. */
  record(ok: boolean): boolean {
    if (ok) { this.successes++; this.failures = 0; } else { this.failures++; this.successes = 0; }
    const before = this.passing;
    if (ok && this.successes >= (this.probe.successThreshold ?? probeDefaults.successThreshold)) this.passing = true;
    if (!ok && this.failures >= (this.probe.failureThreshold ?? probeDefaults.failureThreshold)) this.passing = false;
    return before !== this.passing;
  }
}

export interface ProberOptions {
  container: Container;
  target: ProbeTarget;
  runtime: ContainerRuntime;
  /** Called when started, ready or live changes. */
  onChange: () => void;
  run?: typeof runProbe;
}

export class ContainerProber {
  private readonly timers = new Map<Kind, NodeJS.Timeout>();
  private readonly verdicts = new Map<Kind, ProbeVerdict>();
  private stopped = false;
  private lastMessage = '';

  constructor(private readonly options: ProberOptions) {
    const c = options.container;
    // Before a probe has run: not started (startup), not ready (readiness), alive (liveness).
    if (c.startupProbe) this.verdicts.set('startup', new ProbeVerdict(c.startupProbe, false));
    if (c.livenessProbe) this.verdicts.set('liveness', new ProbeVerdict(c.livenessProbe, true));
    if (c.readinessProbe) this.verdicts.set('readiness', new ProbeVerdict(c.readinessProbe, false));
  }

  start(): this {
    if (this.verdicts.has('startup')) this.schedule('startup', true);
    else this.startMain();
    return this;
  }

  stop(): void {
    this.stopped = true;
    this.timers.forEach((t) => clearTimeout(t));
    this.timers.clear();
  }

  get started(): boolean { return this.verdicts.get('startup')?.passing ?? true; }
  get ready(): boolean { return this.started && (this.verdicts.get('readiness')?.passing ?? true); }
  get live(): boolean { return (this.verdicts.get('liveness')?.passing ?? true) && (this.verdicts.get('startup') ? this.startupAlive : true); }
  get message(): string { return this.lastMessage; }

  /** A startup probe that reached its failure threshold kills the container, as liveness does. */
  private startupAlive = true;

  private startMain(): void {
    if (this.verdicts.has('liveness')) this.schedule('liveness', true);
    if (this.verdicts.has('readiness')) this.schedule('readiness', true);
  }

  private probeOf(kind: Kind): Probe {
    const c = this.options.container;
    return (kind === 'startup' ? c.startupProbe : kind === 'liveness' ? c.livenessProbe : c.readinessProbe)!;
  }

  private schedule(kind: Kind, first: boolean): void {
    if (this.stopped) return;
    const probe = this.probeOf(kind);
    const ms = (first ? probe.initialDelaySeconds ?? 0 : probe.periodSeconds ?? probeDefaults.periodSeconds) * 1000;
    this.timers.set(kind, setTimeout(() => void this.tick(kind), ms));
  }

  private async tick(kind: Kind): Promise<void> {
    const run = this.options.run ?? runProbe;
    const result = await run(this.probeOf(kind), this.options.target, this.options.runtime);
    if (this.stopped) return;
    if (!result.ok) this.lastMessage = `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed: ${result.message ?? ''}`;
    const verdict = this.verdicts.get(kind)!;
    const changed = verdict.record(result.ok);
    if (kind === 'startup') {
      if (verdict.passing) { this.startMain(); this.options.onChange(); return; }
      if (verdict.failures >= (this.probeOf(kind).failureThreshold ?? probeDefaults.failureThreshold)) {
        this.startupAlive = false;
        this.options.onChange();
        return;
      }
    } else if (changed) {
      this.options.onChange();
    }
    this.schedule(kind, false);
  }
}
