// The streaming subresources: pods/exec, pods/attach and pods/portforward arrive as upgrade
// requests (`kubectl exec`, `cp`, `attach`, `run -i`, `port-forward`, the official clients).
// The API server checks the caller (only the admin may), the pod and the request, then dials the
// agent of the pod's node (as for logs: its serving certificate checked by agent-dial.ts, a
// one-minute token signed with the CA key naming this node, pod and verb). For exec and attach,
// once the agent has accepted, it completes the client's WebSocket handshake with the same
// subprotocol and relays messages both ways unchanged, or, for kubectl 1.27-1.29, speaks SPDY to
// the client and translates (pod-exec-spdy.ts). Port-forward is pod-portforward.ts. Every
// refusal before the upgrade is an HTTP error with a Status, which kubectl prints.
import { createPrivateKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { WebSocket, WebSocketServer } from 'ws';
import { signLogToken } from '../api/log-token.ts';
import { ApiError, BadRequestError, InternalError, NotFoundError, ServiceUnavailableError } from '../api/errors.ts';
import type { Node, Pod } from '../api/core.ts';
import { execOptionsFrom, execQuery, pickRemoteCommandProtocol, remoteCommandProtocols, upgradeRefusal } from '../api/remotecommand.ts';
import { resourceFor } from '../api/resources.ts';
import { agentEndpoint, agentRefusal, agentTls, type AgentTrust } from './agent-dial.ts';
import { authorize } from './auth.ts';
import { offersSpdyExecProtocol, serveExecSpdy, spdyExecProtocol } from './pod-exec-spdy.ts';
import { pickContainer } from './pod-logs.ts';
import {
  portForwardChannelsProtocol, portForwardTransport, portForwardTunnelProtocol, servePortForwardChannels, servePortForwardSpdy, servePortForwardTunnel,
} from './pod-portforward.ts';

const pods = resourceFor('', 'pods')!;
const nodes = resourceFor('', 'nodes')!;
const execPath = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/;
// A WebSocket message is at most this large (kubectl sends 32 KiB of stdin at a time).
const maxMessageBytes = 16 * 1024 * 1024;
// Past this much unsent toward one side, the relay stops reading the other.
const highWaterBytes = 1024 * 1024;

export interface PodExecOptions {
  /** PEM of the cluster CA's private key, which signs the token the agent checks. */
  signingKeyPem: string;
  /** PEM of the cluster CA certificate: the agent's serving certificate must chain to it. */
  caPem?: string;
  tokenTtlSeconds?: number;
}

export function registerPodExec(app: FastifyInstance, options: PodExecOptions): void {
  const key = createPrivateKey(options.signingKeyPem);
  const ttl = options.tokenTtlSeconds ?? 60;
  const trust: AgentTrust | undefined = options.caPem ? { caPem: options.caPem, store: app.registry.store } : undefined;
  // The client's handshake is completed with the subprotocol the agent chose.
  const agreed = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true, perMessageDeflate: false, maxPayload: maxMessageBytes,
    handleProtocols: (_offered, req) => agreed.get(req) ?? false,
  });
  const tunnels = new WeakSet<IncomingMessage>();
  wss.on('headers', (headers: string[], req: IncomingMessage) => {
    if (tunnels.has(req)) headers.push(`Sec-WebSocket-Protocol: ${portForwardTunnelProtocol}`);
  });

  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => { /* the client went away */ });
    const refuse = (err: unknown) => {
      const api = err instanceof ApiError ? err : new InternalError('an internal error occurred', { cause: err });
      if (api.code >= 500) app.log.warn({ err: api.message, url: req.url }, 'exec refused');
      if (socket.writable) socket.end(upgradeRefusal(api.code, api.reason, api.message));
    };
    try {
      const url = new URL(req.url ?? '/', 'https://apiserver');
      const m = execPath.exec(url.pathname);
      if (!m) throw new NotFoundError('the server could not find the requested resource');
      const [namespace, name, subresource] = m.slice(1).map(decodeURIComponent) as [string, string, string];
      const user = app.authenticator.authenticate(req.headers.authorization);
      authorize(user, { verb: 'create', group: '', version: 'v1', resource: 'pods', subresource, namespace, name }, () => undefined);
      const pod = app.registry.get(pods, namespace, name) as unknown as Pod;
      const verb = subresource as 'exec' | 'attach' | 'portforward';
      const phase = pod.status?.phase;
      if (verb === 'portforward' && phase !== 'Running') throw new BadRequestError(`unable to forward port because pod is not running. Current status=${phase ?? 'Pending'}`);
      if (phase === 'Succeeded' || phase === 'Failed') throw new BadRequestError(`cannot ${verb} ${verb === 'exec' ? 'into' : 'to'} a container in a completed pod; current phase is ${phase}`);
      if (!pod.spec.nodeName) throw new BadRequestError(`pod ${name} does not have a host assigned`);
      if (!trust) throw new ServiceUnavailableError('this API server has no cluster CA certificate to verify agents with');
      const endpoint = agentEndpoint(app.registry.get(nodes, undefined, pod.spec.nodeName) as unknown as Node);
      /** A one-minute token for the agent, naming this node, pod and verb. */
      const token = () => {
        const now = Math.floor(Date.now() / 1000);
        return signLogToken(key, { node: endpoint.nodeName, namespace, pod: name, verb, iat: now, exp: now + ttl });
      };
      if (verb === 'portforward') {
        const transport = portForwardTransport(req);
        if (!transport) throw new BadRequestError(`pods/portforward needs a SPDY/3.1 upgrade or a WebSocket offering ${portForwardTunnelProtocol}, as kubectl sends`);
        const target = { trust, endpoint, namespace, pod: name, token };
        if (transport === 'spdy') {
          servePortForwardSpdy(socket, head, target);
        } else if (transport === 'channels') {
          const ports = (url.searchParams.get('ports') ?? '').split(',').filter(Boolean).map(Number);
          if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
            throw new BadRequestError(`ports must be one or more port numbers, comma-separated: ${url.searchParams.get('ports') ?? '(none)'}`);
          }
          agreed.set(req, portForwardChannelsProtocol);
          wss.handleUpgrade(req, socket, head, (ws) => servePortForwardChannels(ws, ports, target));
        } else {
          // ws refuses a subprotocol with '/' or '+' in it (they are not token characters), yet
          // kubectl sends and expects exactly this one: it is taken out before the handshake and
          // written back into the 101 (the 'headers' hook below).
          tunnels.add(req);
          delete req.headers['sec-websocket-protocol'];
          wss.handleUpgrade(req, socket, head, (ws) => servePortForwardTunnel(ws, target));
        }
        return;
      }
      const container = pickContainer(pod, url.searchParams.get('container') ?? undefined);
      const exec = execOptionsFrom(url.searchParams, container, verb);
      if (typeof exec === 'string') throw new BadRequestError(exec);
      // WebSocket (kubectl 1.30+, the official clients), or SPDY (kubectl 1.27-1.29), relayed to the
      // agent as WebSocket v5 (pod-exec-spdy.ts).
      const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
      const spdy = upgrade === 'spdy/3.1';
      if (!spdy && upgrade !== 'websocket') {
        throw new BadRequestError(`${verb} needs a WebSocket (${remoteCommandProtocols.join(', ')}) or SPDY/3.1 upgrade; this client asked for ${req.headers.upgrade ?? 'none'}`);
      }
      if (spdy && !offersSpdyExecProtocol(req.headers['x-stream-protocol-version'])) {
        throw new BadRequestError(`no supported stream protocol offered: over SPDY labkube speaks ${spdyExecProtocol}`);
      }
      const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      const protocol = spdy ? remoteCommandProtocols[0] : pickRemoteCommandProtocol(offered);
      if (!protocol) throw new BadRequestError(`no supported stream protocol offered: labkube speaks ${remoteCommandProtocols.join(', ')}`);
      const { tls, describe } = agentTls(trust, endpoint);
      const path = `/${verb}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${execQuery(exec)}`;
      const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
      const upstream = new WebSocket(`wss://${host}:${endpoint.port}${path}`, [protocol], {
        ...tls, headers: { Authorization: `Bearer ${token()}` }, perMessageDeflate: false, maxPayload: maxMessageBytes, handshakeTimeout: 15_000,
      });
      let opened = false;
      // The client gave up while the agent was being dialed.
      socket.once('close', () => { if (!opened) upstream.terminate(); });
      upstream.on('unexpected-response', (_r, res) => {
        void agentRefusal(res).then((err) => { refuse(err); upstream.terminate(); });
      });
      upstream.on('error', (err) => { if (!opened) refuse(describe(err)); });
      upstream.on('open', () => {
        opened = true;
        if (socket.destroyed) { upstream.close(); return; }
        if (spdy) { serveExecSpdy(socket, head, upstream, exec); return; }
        agreed.set(req, upstream.protocol);
        wss.handleUpgrade(req, socket, head, (client) => relay(client, upstream));
      });
    } catch (err) {
      refuse(err);
    }
  });
}

/** Messages both ways, unchanged; either side closing closes the other. */
function relay(client: WebSocket, upstream: WebSocket): void {
  // A side that cannot keep up pauses the other (kubectl cp of a large file in either direction).
  const forward = (from: WebSocket, to: WebSocket) => {
    from.on('message', (data: Buffer, isBinary: boolean) => {
      if (to.readyState !== WebSocket.OPEN) return;
      to.send(data, { binary: isBinary }, () => { if (to.bufferedAmount < highWaterBytes) from.resume(); });
      if (to.bufferedAmount >= highWaterBytes) from.pause();
    });
    from.on('close', (code: number, reason: Buffer) => {
      // 1005 (no code) and 1006 (abnormal) may not be sent: the other side gets a plain close.
      if (to.readyState === WebSocket.OPEN) to.close(code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000, reason);
      else to.terminate();
    });
    from.on('error', () => to.terminate());
  };
  forward(client, upstream);
  forward(upstream, client);
}
