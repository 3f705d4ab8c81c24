// The agent's log server: GET /containerLogs/{namespace}/{pod}/{container} (the kubelet's path)
// with follow, tailLines, timestamps, previous, sinceSeconds; and /exec/... (exec-server.ts). HTTPS with the serving certificate
// the cluster CA signed for this node (serving-cert.ts), swapped in place when it is renewed;
// callers must present a log token signed by the cluster CA for this node and pod
// (control-plane/api/log-token.ts). node:https only: no framework on a board.
import https from 'node:https';
import type { Logger } from 'pino';
import { reconnectBackoff, retry, RetryBackoff } from './backoff.ts';
import { execUpgradeHandler } from './exec-server.ts';
import { publicKeyFromCa, refuseRequest } from '../control-plane/api/log-token.ts';
import { ServingCertificate } from './serving-cert.ts';
import { restartCountOf } from './hooks/report.ts';
import { labelKeys, type ContainerRuntime } from './runtime/types.ts';

export interface LogServerOptions {
  runtime: ContainerRuntime; nodeName: string; ip: string; port: number; caPem: string; dataDir: string; logger?: Logger;
  /** The certificate to serve with, shared with the join that asks for it; made from the data dir when absent. */
  certificate?: ServingCertificate;
  /** The board's clock, for log tokens' validity (injected by tests to play a board whose clock is off). */
  clock?: () => number;
  /** The wait between bind attempts (injected by tests). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface LogServer {
  /** The port it listens on; 0 while the address is not there yet. */
  readonly port: number;
  /** Resolves with the port once bound (at once, or when the address appears); with 0 if closed first. */
  readonly bound: Promise<number>;
  /** What it serves with: the join sends its CSR and hands it the certificate (registration.ts). */
  readonly certificate: ServingCertificate;
  close(): Promise<void>;
}

/**
 * Starts the log server on the node IP. The address may not exist yet (the cable is out, DHCP is
 * late: EADDRNOTAVAIL): then it returns unbound and keeps trying with backoff, so the agent runs
 * its pods meanwhile and serves logs once the address appears.
 */
export async function startLogServer(o: LogServerOptions): Promise<LogServer> {
  const publicKey = publicKeyFromCa(o.caPem);
  const certificate = o.certificate ?? new ServingCertificate({ dataDir: o.dataDir, nodeName: o.nodeName, ip: o.ip, caPem: o.caPem, logger: o.logger });
  const fail = (res: import('node:http').ServerResponse, code: number, reason: string, message: string) => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', code, reason, message }));
  };
  // Until the first join brings a certificate, TLS handshakes fail: nobody calls a node that has not joined.
  const server = https.createServer({ ...certificate.tls, minVersion: 'TLSv1.2' }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://agent');
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'GET' || !m) return fail(res, 404, 'NotFound', 'not found');
      const [namespace, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      const refusal = refuseRequest(publicKey, req.headers.authorization, o.nodeName, (o.clock ?? Date.now)(), { namespace, pod });
      if (refusal) return fail(res, refusal.code, refusal.reason, refusal.message);
      const q = url.searchParams;
      const flag = (k: string) => q.get(k) === 'true' || q.get(k) === '1';
      const found = (await o.runtime.listContainers({
        [labelKeys.node]: o.nodeName, [labelKeys.namespace]: namespace, [labelKeys.pod]: pod, [labelKeys.container]: container,
      })).sort((a, b) => restartCountOf(b) - restartCountOf(a));
      const target = flag('previous') ? found[1] : found[0];
      if (!target) {
        return fail(res, 400, 'BadRequest', flag('previous')
          ? `previous terminated container "${container}" in pod "${pod}" not found`
          : `container "${container}" in pod "${pod}" is waiting to start: ContainerCreating`);
      }
      const tail = q.get('tailLines');
      const since = q.get('sinceSeconds');
      const stream = await o.runtime.logs(target.id, {
        follow: flag('follow'), timestamps: flag('timestamps'),
        ...(tail && /^\d+$/.test(tail) && { tailLines: Number(tail) }),
        ...(since && /^\d+$/.test(since) && { sinceSeconds: Number(since) }),
      });
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.on('close', () => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.());
      stream.pipe(res);
    })().catch((err: unknown) => {
      o.logger?.warn({ err: (err as Error).message }, 'log request failed');
      if (!res.headersSent) fail(res, 500, 'InternalError', (err as Error).message);
      else res.destroy();
    });
  });
  // pods/exec arrives on the same port as a WebSocket upgrade (exec-server.ts).
  server.on('upgrade', execUpgradeHandler({ runtime: o.runtime, nodeName: o.nodeName, publicKey, ...(o.clock && { clock: o.clock }), ...(o.logger && { logger: o.logger }) }));
  const closing = new AbortController();
  let port = 0;
  const listen = () => new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.ip, () => {
      server.off('error', reject);
      const address = server.address();
      port = typeof address === 'object' && address ? address.port : o.port;
      resolve(port);
    });
  });
  let bound: Promise<number>;
  try {
    bound = Promise.resolve(await listen());
  } catch (err) {
    o.logger?.warn({ ip: o.ip, port: o.port, err: (err as Error).message },
      'the log server cannot listen on the node IP yet (is the address configured, the cable in?); retrying, pods run meanwhile');
    const backoff = new RetryBackoff(reconnectBackoff);
    bound = retry(listen, {
      backoff, signal: closing.signal, sleep: o.sleep,
      onError: (e, retryInMs) => o.logger?.debug({ ip: o.ip, err: (e as Error).message, retryInMs }, 'log server bind failed'),
    }).then((p) => {
      o.logger?.info({ ip: o.ip, port: p }, 'log server listening');
      return p;
    }, () => 0);
  }
  // New connections use a renewed certificate; open log streams keep the one they began with.
  const stopSwapping = certificate.onChange((tls) => server.setSecureContext({ ...tls, minVersion: 'TLSv1.2' }));
  // Once listening, a server error is logged: it must not end the agent.
  server.on('error', (err) => { if (server.listening) o.logger?.warn({ err: err.message }, 'log server error'); });
  return {
    get port() { return port; },
    bound,
    certificate,
    close: () => {
      closing.abort();
      stopSwapping();
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
