// GET /api/v1/namespaces/{ns}/pods/{name}/log: the API server proxies to the log server of the
// agent the pod is bound to, as kube-apiserver proxies to the kubelet. It finds the agent from
// the Node (InternalIP, daemonEndpoints.kubeletEndpoint.Port) and presents a short-lived token
// signed with the cluster CA key (agent/log-token.ts); the agent checks it against its CA
// certificate. Only the admin may read logs: a node credential may not (auth.ts).
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createPrivateKey } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { defaultLogTokenTtlSeconds, signLogToken } from '../../agent/log-token.ts';
import { ApiError, BadRequestError, ForbiddenError, InvalidError, ServiceUnavailableError } from '../api/errors.ts';
import type { Node, Pod } from '../api/core.ts';
import type { Status } from '../api/meta.ts';
import { resourceFor } from '../api/resources.ts';
import { boolParam, intParam, param, type Query } from './query.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
// The kubelet's port, used when a Node does not report one.
const defaultKubeletPort = 10250;

export interface PodLogRouteOptions {
  /** PEM of the cluster CA's private key (DATA_DIR/ca.key). */
  signingKeyPem: string;
  tokenTtlSeconds?: number;
}

export function registerPodLogRoute(app: FastifyInstance, options: PodLogRouteOptions): void {
  const key = createPrivateKey(options.signingKeyPem);
  const ttl = options.tokenTtlSeconds ?? defaultLogTokenTtlSeconds;
  app.get<{ Params: { namespace: string; name: string }; Querystring: Query }>(
    '/api/v1/namespaces/:namespace/pods/:name/log',
    async (req, reply) => {
      if (req.user?.kind !== 'admin') {
        throw new ForbiddenError(`pods "${req.params.name}" is forbidden: User "${req.user?.name}" cannot get resource "pods/log" in API group "" in the namespace "${req.params.namespace}"`);
      }
      const { namespace, name } = req.params;
      const query = logOptions(req.query, name);
      const pod = app.registry.get(pods, namespace, name) as unknown as Pod;
      const container = pickContainer(pod, param(req.query, 'container'));
      const nodeName = pod.spec.nodeName;
      if (!nodeName) throw new BadRequestError(`pod ${name} does not have a host assigned`);
      const node = app.registry.get(nodes, undefined, nodeName) as unknown as Node;
      const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      if (!ip) throw new ServiceUnavailableError(`node "${nodeName}" reports no InternalIP`);
      const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? defaultKubeletPort;
      const token = signLogToken(key, { node: nodeName, namespace, pod: name, exp: Math.floor(Date.now() / 1000) + ttl });
      const path = `/containerLogs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${query}`;
      return proxy(req, reply, { host: ip, port, path, token, nodeName });
    },
  );
}

/**
 * PodLogOptions from the query, checked as Kubernetes checks them (conversion errors 400,
 * ValidatePodLogOptions 422) and passed on normalized, so the agent sees only well-formed values.
 */
function logOptions(q: Query, podName: string): URLSearchParams {
  const out = new URLSearchParams();
  const invalid = (field: string, message: string) => new InvalidError('PodLogOptions', podName, [{ reason: 'FieldValueInvalid', field, message }]);
  for (const k of ['follow', 'timestamps', 'previous'] as const) if (param(q, k) !== undefined && boolParam(q, k)) out.set(k, 'true');
  const tailLines = intParam(q, 'tailLines');
  if (tailLines !== undefined && tailLines < 0) throw invalid('tailLines', 'must be greater than or equal to 0');
  const sinceSeconds = intParam(q, 'sinceSeconds');
  if (sinceSeconds !== undefined && sinceSeconds < 1) throw invalid('sinceSeconds', 'must be greater than 0');
  const limitBytes = intParam(q, 'limitBytes');
  if (limitBytes !== undefined && limitBytes < 1) throw invalid('limitBytes', 'must be greater than 0');
  if (param(q, 'sinceTime') !== undefined) throw new BadRequestError('sinceTime is not supported by labkube: use sinceSeconds');
  for (const [k, v] of [['tailLines', tailLines], ['sinceSeconds', sinceSeconds], ['limitBytes', limitBytes]] as const) {
    if (v !== undefined) out.set(k, String(v));
  }
  return out;
}

function pickContainer(pod: Pod, requested: string | undefined): string {
  const names = pod.spec.containers.map((c) => c.name);
  if (requested) {
    if (!names.includes(requested)) throw new BadRequestError(`container ${requested} is not valid for pod ${pod.metadata.name}`);
    return requested;
  }
  if (names.length === 1) return names[0]!;
  throw new BadRequestError(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
}

async function proxy(req: FastifyRequest, reply: FastifyReply,
  target: { host: string; port: number; path: string; token: string; nodeName: string }): Promise<FastifyReply> {
  const upstream = await new Promise<IncomingMessage>((resolve, reject) => {
    const out = https.request({
      host: target.host, port: target.port, path: target.path, method: 'GET',
      headers: { Authorization: `Bearer ${target.token}` },
      // The agent serves a self-signed certificate (as a kubelet does by default, and as
      // kube-apiserver accepts without --kubelet-certificate-authority). TLS keeps log lines
      // private on the wire; the token is what authenticates, and it is bound to this pod.
      rejectUnauthorized: false,
    }, resolve);
    out.on('error', (err) => reject(new ServiceUnavailableError(`cannot reach the agent on node "${target.nodeName}" at ${target.host}:${target.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    reply.raw.on('close', () => out.destroy());
    out.end();
  });
  if (upstream.statusCode !== 200) {
    let text = '';
    for await (const chunk of upstream) text += String(chunk);
    let status: Partial<Status> = { message: text || `agent answered HTTP ${upstream.statusCode}` };
    try { status = JSON.parse(text) as Status; } catch { /* plain text from the agent: kept as the message above */ }
    throw ApiError.fromStatus(status, upstream.statusCode ?? 502);
  }
  reply.raw.on('close', () => upstream.destroy());
  return reply.type('text/plain').send(upstream);
}
