// GET /api/v1/namespaces/{ns}/pods/{name}/log: the API server proxies to the log server of the
// agent the pod is bound to, as kube-apiserver proxies to the kubelet. It finds the agent from
// the Node (InternalIP, daemonEndpoints.kubeletEndpoint.Port) and presents a short-lived token
// signed with the cluster CA key (api/log-token.ts); the agent checks it against its CA
// certificate. The agent's certificate is checked in turn (agent-dial.ts): signed by the cluster
// CA for this node and this address, so the token goes to no one else. Only the admin may read
// logs: a node credential may not (auth.ts).
import { authorizePodLog } from './auth.ts';
import { createPrivateKey } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { defaultLogTokenTtlSeconds, signLogToken } from '../api/log-token.ts';
import { BadRequestError, InvalidError, ServiceUnavailableError } from '../api/errors.ts';
import type { Node, Pod } from '../api/core.ts';
import { resourceFor } from '../api/resources.ts';
import { agentEndpoint, agentRefusal, fetchFromAgent, type AgentEndpoint, type AgentTrust } from './agent-dial.ts';
import { boolParam, intParam, param, type Query } from './query.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;

export interface PodLogRouteOptions {
  /** PEM of the cluster CA's private key (DATA_DIR/ca.key). */
  signingKeyPem: string;
  /** PEM of the cluster CA certificate: agents' serving certificates must chain to it. Without it no agent is trusted (503). */
  caPem?: string;
  tokenTtlSeconds?: number;
}

export function registerPodLogRoute(app: FastifyInstance, options: PodLogRouteOptions): void {
  const key = createPrivateKey(options.signingKeyPem);
  const ttl = options.tokenTtlSeconds ?? defaultLogTokenTtlSeconds;
  const trust: AgentTrust | undefined = options.caPem ? { caPem: options.caPem, store: app.registry.store } : undefined;
  app.get<{ Params: { namespace: string; name: string }; Querystring: Query }>(
    '/api/v1/namespaces/:namespace/pods/:name/log',
    async (req, reply) => {
      authorizePodLog(req.user, req.params.namespace, req.params.name);
      const { namespace, name } = req.params;
      const query = logOptions(req.query, name);
      const pod = app.registry.get(pods, namespace, name) as unknown as Pod;
      const container = pickContainer(pod, param(req.query, 'container'));
      const nodeName = pod.spec.nodeName;
      if (!nodeName) throw new BadRequestError(`pod ${name} does not have a host assigned`);
      const endpoint = agentEndpoint(app.registry.get(nodes, undefined, nodeName) as unknown as Node);
      if (!trust) throw new ServiceUnavailableError('this API server has no cluster CA certificate to verify agents with');
      const now = Math.floor(Date.now() / 1000);
      const token = signLogToken(key, { node: nodeName, namespace, pod: name, iat: now, exp: now + ttl });
      const path = `/containerLogs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${query}`;
      return proxy(reply, trust, endpoint, { path, token });
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

export function pickContainer(pod: Pod, requested: string | undefined): string {
  const names = pod.spec.containers.map((c) => c.name);
  if (requested) {
    if (!names.includes(requested)) throw new BadRequestError(`container ${requested} is not valid for pod ${pod.metadata.name}`);
    return requested;
  }
  if (names.length === 1) return names[0]!;
  throw new BadRequestError(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
}

async function proxy(reply: FastifyReply, trust: AgentTrust, endpoint: AgentEndpoint,
  target: { path: string; token: string }): Promise<FastifyReply> {
  const gone = new AbortController();
  reply.raw.on('close', () => gone.abort());
  const upstream = await fetchFromAgent(trust, endpoint, {
    method: 'GET', path: target.path, headers: { Authorization: `Bearer ${target.token}` }, signal: gone.signal,
  });
  if (upstream.statusCode !== 200) throw await agentRefusal(upstream);
  reply.raw.on('close', () => upstream.destroy());
  return reply.type('text/plain').send(upstream);
}
