// `labkube server`: the control plane in one process: the store and the API server, and
// (through the same HTTPS API any other client uses) the controllers.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApiServer } from './apiserver/app.ts';
import { prepareDataDir, writeKubeconfig } from './apiserver/bootstrap.ts';
import { ensureServingCerts, localNames } from './apiserver/certs.ts';
import { startControllers } from './controllers/index.ts';
import { MemoryStore } from './store/memory.ts';
import { RoutedStore } from './store/routed.ts';
import { SqliteStore } from './store/sqlite.ts';

export interface ServerOptions {
  dataDir: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  logger: Logger;
  /** Extra names and addresses for the serving certificate (a DNS name, a router's forwarded IP). */
  tlsSans?: string[];
  historyRevisions?: number;
  historyAgeMs?: number;
  /** Default 6 s: three missed 2 s heartbeats. A lab on flaky Wi-Fi raises it. */
  nodeMonitorGracePeriodMs?: number;
  /** Default 2 s: a pulled plug is answered in about 10 s (grace + toleration + scheduling). */
  defaultTolerationSeconds?: number;
  /** Pod addresses; each Node gets a /24 of it as spec.podCIDR. Default 10.42.0.0/16, as k3s. */
  clusterCidr?: string;
  /** ClusterIPs. Default 10.43.0.0/16, as k3s. */
  serviceCidr?: string;
  /** NodePorts, `first-last`. Default 30000-32767, as Kubernetes. */
  nodePortRange?: string;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  kubeconfigPath: string;
  caPem: string;
  adminToken: string;
  joinToken: string;
  /** Read-only: lists, watches and reads logs (the dashboard link's token). */
  viewerToken: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const data = prepareDataDir(options.dataDir);
  const certs = await ensureServingCerts(options.dataDir, localNames([...(options.tlsSans ?? []), options.host]));
  const disk = new SqliteStore({
    path: data.databasePath,
    ...(options.historyRevisions !== undefined && { historyRevisions: options.historyRevisions }),
    ...(options.historyAgeMs !== undefined && { historyAgeMs: options.historyAgeMs }),
  });
  const store = new RoutedStore(disk, new MemoryStore(), ['/coordination.k8s.io/leases/']);
  const app = await buildApiServer({
    store, adminToken: data.adminToken, joinToken: data.joinToken, logger: options.logger,
    tls: { cert: certs.certPem, key: certs.keyPem },
    podLogSigningKeyPem: readFileSync(join(options.dataDir, 'ca.key'), 'utf8'),
    caPem: certs.caPem,
    registry: {
      ...(options.serviceCidr !== undefined && { serviceCidr: options.serviceCidr }),
      ...(options.nodePortRange !== undefined && { nodePortRange: options.nodePortRange }),
    },
  });
  app.authenticator.setViewerToken(data.viewerToken);
  await app.listen({ host: options.host, port: options.port, listenTextResolver: (address) => `API server listening at ${address.replace(/^http:/, 'https:')}` });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const localHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const url = `https://${localHost.includes(':') ? `[${localHost}]` : localHost}:${port}`;
  writeKubeconfig(data, url, certs.caPem);
  const controllers = startControllers({
    server: url, token: data.adminToken, ca: certs.caPem, logger: options.logger,
    nodeMonitorGracePeriodMs: options.nodeMonitorGracePeriodMs ?? 6_000,
    defaultTolerationSeconds: options.defaultTolerationSeconds ?? 2,
    ...(options.clusterCidr !== undefined && { clusterCidr: options.clusterCidr }),
  });
  options.logger.info({ url, dataDir: options.dataDir, kubeconfig: data.kubeconfigPath }, 'control plane listening');
  // The token rides in the fragment, which a browser never sends: it stays out of request lines and logs.
  const dashboard = `https://${lanHost(options, localHost)}:${port}/ui/#token=${data.viewerToken}`;
  options.logger.info({ dashboard }, `dashboard (read-only viewer): ${dashboard}`);
  return {
    app, url, kubeconfigPath: data.kubeconfigPath, caPem: certs.caPem, adminToken: data.adminToken, joinToken: data.joinToken,
    viewerToken: data.viewerToken,
    async close() {
      const started = Date.now();
      await controllers.stop();
      const controllersMs = Date.now() - started;
      const closing = app.close();
      // An open watch (a dashboard tab, an agent) would hold close() until its timeout, up to
      // 30 min: once the listener is closed, cut what is left; watchers resume from their revision.
      const cut = setInterval(() => { if (!app.server.listening) app.server.closeAllConnections(); }, 20);
      try { await closing; } finally { clearInterval(cut); }
      store.close();
      options.logger.info({ controllersMs, totalMs: Date.now() - started }, 'control plane stopped');
    },
  };
}

/**
 * The address a laptop in the lab would type: the listen address when it is one, else the first
 * LAN IPv4 address (on 0.0.0.0 the loopback in `url` is useless to anyone else).
 */
function lanHost(options: ServerOptions, localHost: string): string {
  if (options.host !== '0.0.0.0' && options.host !== '::') return localHost.includes(':') ? `[${localHost}]` : localHost;
  const lan = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
  return lan?.address ?? localHost;
}
