// The live lab dashboard at /ui/ (issue 13): static files, and one list. The page
// (control-plane/ui) asks for a token and then reads the API like any client, so the files need
// no credential (auth.ts lists them in `publicRoutes`) and hold nothing secret. The one list,
// `/ui/lists/pods`, is the pods cut to the fields the page draws (ui/pod-projection.ts says why):
// it takes a token and is authorized exactly as `GET /api/v1/pods`, whose watch then keeps it live.
//
// Where the files come from: `npm run bundle` builds them into dist/labkube.mjs as one constant,
// compressed when the server starts; run from source (tsx: tests, development) the first request
// builds them with esbuild, once per process. Either way every asset is local: no CDN, no web fonts.
import { createHash } from 'node:crypto';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KubeObject } from '../api/meta.ts';
import { NotFoundError } from '../api/errors.ts';
import { resourceFor } from '../api/resources.ts';
import { dashboardPod } from '../ui/pod-projection.ts';
import { authorize } from './auth.ts';
import { prefixFor } from './registry.ts';
import { parseRequestInfo } from './request-info.ts';

/** Set by scripts/bundle.mjs; absent when the server runs from source. */
declare const __LABKUBE_UI_ASSETS__: string | undefined;

/** The routes registered here for the page's files; each must be in auth.ts's `publicRoutes`. */
export const dashboardRoutes = ['/ui', '/ui/', '/ui/:asset'] as const;
/** Not public: a token is needed, as for the API's own list. */
export const dashboardPodsRoute = '/ui/lists/pods';

interface Asset { type: string; etag: string; plain: Buffer; gzip: Buffer; brotli: Buffer }

const types: Record<string, string> = {
  html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8',
};

// The page reaches only its own origin: no inline script, nothing from elsewhere.
const securityHeaders = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

async function loadSources(): Promise<Record<string, string>> {
  if (typeof __LABKUBE_UI_ASSETS__ === 'string') return JSON.parse(__LABKUBE_UI_ASSETS__) as Record<string, string>;
  const [esbuild, { buildDashboardAssets }] = await Promise.all([import('esbuild'), import('../ui/build.mjs')]);
  return buildDashboardAssets(esbuild);
}

/** Compressed once at build time, not per request: the assets never change while the server runs. */
function prepare(sources: Record<string, string>): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, text] of Object.entries(sources)) {
    const plain = Buffer.from(text);
    assets.set(name, {
      type: types[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(plain).digest('base64url').slice(0, 22)}"`,
      plain,
      gzip: gzipSync(plain, { level: 9 }),
      brotli: brotliCompressSync(plain, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }),
    });
  }
  return assets;
}

export interface DashboardOptions {
  /** Builds the asset sources; tests inject a failing one. Default: the bundle's constant or esbuild. */
  load?: () => Promise<Record<string, string>>;
}

export function registerDashboard(app: FastifyInstance, options: DashboardOptions = {}): void {
  let assets: Promise<Map<string, Asset>> | undefined;
  // Built on first use, so a server that nobody opens the dashboard of never pays for it; a
  // failed build is retried by the next request rather than cached.
  const get = () => {
    assets ??= (options.load ?? loadSources)().then(prepare).catch((err: unknown) => { assets = undefined; throw err; });
    return assets;
  };
  // The bundled server has its sources already: compressing them now (a fraction of a second, in
  // the background) spares the first visitor the wait. From source, a build per test server
  // would cost more than it saves, so it stays lazy.
  if (typeof __LABKUBE_UI_ASSETS__ === 'string' && !options.load) setImmediate(() => get().catch(() => undefined));
  const serve = async (name: string, req: FastifyRequest, reply: FastifyReply) => {
    const asset = (await get()).get(name);
    if (!asset) throw new NotFoundError('the server could not find the requested resource');
    // Revalidated on each load (cheap: a 304), so a server upgrade never leaves a stale page.
    reply.headers({ ...securityHeaders, 'content-type': asset.type, etag: asset.etag, 'cache-control': 'no-cache', vary: 'accept-encoding' });
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    const accept = String(req.headers['accept-encoding'] ?? '');
    if (/\bbr\b/.test(accept)) return reply.header('content-encoding', 'br').send(asset.brotli);
    if (/\bgzip\b/.test(accept)) return reply.header('content-encoding', 'gzip').send(asset.gzip);
    return reply.send(asset.plain);
  };
  // A redirect keeps the URL's fragment, and with it a `#token=` link.
  app.get(dashboardRoutes[0], async (_req, reply) => reply.redirect('/ui/'));
  app.get(dashboardRoutes[1], async (req, reply) => serve('index.html', req, reply));
  app.get<{ Params: { asset: string } }>(dashboardRoutes[2], async (req, reply) => serve(req.params.asset, req, reply));
  app.get(dashboardPodsRoute, async (req, reply) => reply.type('application/json; charset=utf-8').send(dashboardPodList(app, req)));
}

const pods = resourceFor('', 'pods')!;
const listAllPods = parseRequestInfo('GET', '/api/v1/pods', false);

/**
 * Every pod, as a PodList of the page's fields, with the revision to watch `/api/v1/pods` from.
 * Items and revision come from one read of the store, as the API's own list does, so the watch
 * misses nothing between them.
 */
function dashboardPodList(app: FastifyInstance, req: FastifyRequest): string {
  authorize(req.user!, listAllPods, () => undefined);
  const { items, revision } = app.registry.store.listJson(prefixFor(pods));
  const cut = items.map((json) => JSON.stringify(dashboardPod(JSON.parse(json) as KubeObject)));
  return `{"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"${revision}"},"items":[${cut.join(',')}]}`;
}
