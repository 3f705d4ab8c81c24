// Builds the API server in memory for route tests (`app.inject`, no port, no TLS).
import type { FastifyInstance } from 'fastify';
import { buildApiServer, type ApiServerOptions } from '../../control-plane/apiserver/app.ts';
import { MemoryStore } from '../../control-plane/store/memory.ts';
import { RoutedStore } from '../../control-plane/store/routed.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';

export const adminToken = 'admin-token-for-tests';
export const joinToken = 'join-token-for-tests';

export async function buildTestApp(options: Partial<ApiServerOptions> = {}): Promise<FastifyInstance> {
  const store = options.store ?? new RoutedStore(new SqliteStore({ path: ':memory:', compactIntervalMs: 0 }), new MemoryStore(), ['/coordination.k8s.io/leases/']);
  const app = await buildApiServer({ store, adminToken, joinToken, logger: false, ...options });
  app.addHook('onClose', async () => store.close());
  return app;
}

export const asAdmin = { authorization: `Bearer ${adminToken}` };

export interface CallOptions { token?: string; contentType?: string; headers?: Record<string, string> }

/** A request as the admin unless another token is given; returns status, parsed body and headers. */
export async function call(app: FastifyInstance, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string,
  body?: unknown, options: CallOptions = {}) {
  const res = await app.inject({
    method, url,
    headers: {
      authorization: `Bearer ${options.token ?? adminToken}`,
      ...(body !== undefined && { 'content-type': options.contentType ?? 'application/json' }),
      ...options.headers,
    },
    ...(body !== undefined && { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary response shapes
  try { json = JSON.parse(res.body); } catch { json = res.body; }
  return { status: res.statusCode, body: json, headers: res.headers };
}

export const podManifest = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'web' } },
  spec: { containers: [{ name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] }, ...extra,
});

export const deploymentManifest = (name: string, replicas = 3) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
  spec: {
    replicas, selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } },
  },
});
