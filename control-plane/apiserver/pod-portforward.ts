// pods/portforward: `kubectl port-forward` opens one SPDY session to the API server (a plain
// `Upgrade: SPDY/3.1`, or since kubectl 1.31 the same SPDY frames inside a WebSocket whose
// subprotocol is `SPDY/3.1+portforward.k8s.io`) and, for every local connection, two streams
// with the same requestID: "error" and "data", naming the pod's port. For each data stream the
// API server dials the agent of the pod's node (agent-dial.ts, a one-minute token scoped to this
// pod and port-forward), which answers `101 Upgrade: tcp` once it has connected to the pod's
// address, and the bytes flow both ways; a failure is written on the error stream, as the
// kubelet does, and kubectl prints it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { requestAgent, type AgentEndpoint, type AgentTrust } from './agent-dial.ts';
import { SpdySession, type SpdyStream } from './spdy.ts';

export const portForwardProtocol = 'portforward.k8s.io';
export const portForwardTunnelProtocol = `SPDY/3.1+${portForwardProtocol}`;

export interface PortForwardTarget {
  trust: AgentTrust;
  endpoint: AgentEndpoint;
  namespace: string;
  pod: string;
  /** A fresh token for the agent, for each connection. */
  token(): string;
}

/** Which transport the request asks for: a SPDY upgrade, a WebSocket tunnel of SPDY, or neither. */
export function portForwardTransport(req: IncomingMessage): 'spdy' | 'websocket' | undefined {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (upgrade === 'spdy/3.1') return 'spdy';
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (upgrade === 'websocket' && offered.includes(portForwardTunnelProtocol)) return 'websocket';
  return undefined;
}

/** Completes a plain SPDY upgrade on `socket` and serves the session. */
export function servePortForwardSpdy(socket: Duplex, head: Buffer, target: PortForwardTarget): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${portForwardProtocol}\r\n\r\n`);
  if (head.length) socket.unshift(head);
  serve(new SpdySession(socket), target);
}

/** Serves the session tunnelled in an accepted WebSocket. */
export function servePortForwardTunnel(ws: WebSocket, target: PortForwardTarget): void {
  serve(new SpdySession(createWebSocketStream(ws)), target);
}

function serve(session: SpdySession, target: PortForwardTarget): void {
  const errors = new Map<string, SpdyStream>();
  session.on('stream', (stream: SpdyStream) => {
    stream.reply();
    const id = stream.headers.requestid ?? '';
    if (stream.headers.streamtype === 'error') {
      errors.set(id, stream);
      stream.resume(); // the client writes nothing on it
      stream.on('close', () => errors.delete(id));
      return;
    }
    if (stream.headers.streamtype !== 'data') { stream.destroy(); return; }
    const port = Number(stream.headers.port);
    const fail = (message: string) => {
      const error = errors.get(id);
      if (error) error.end(message); else stream.destroy();
      stream.end();
    };
    if (!Number.isInteger(port) || port < 1 || port > 65535) { fail(`invalid port: ${stream.headers.port ?? '(none)'}`); return; }
    const { request, describe } = requestAgent(target.trust, target.endpoint, {
      method: 'GET',
      path: `/portForward/${encodeURIComponent(target.namespace)}/${encodeURIComponent(target.pod)}?port=${port}`,
      headers: { Authorization: `Bearer ${target.token()}`, Connection: 'Upgrade', Upgrade: 'tcp' },
    });
    request.on('upgrade', (_res, tunnel: Duplex, rest: Buffer) => {
      if (rest.length) stream.write(rest);
      stream.pipe(tunnel).pipe(stream);
      tunnel.on('error', () => stream.destroy());
      stream.on('error', () => tunnel.destroy());
      stream.on('close', () => tunnel.destroy());
    });
    request.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString('utf8'); });
      res.on('end', () => {
        let message = body;
        try { message = (JSON.parse(body) as { message?: string }).message ?? body; } catch { /* plain text */ }
        fail(message || `the agent answered HTTP ${res.statusCode}`);
      });
    });
    request.on('error', (err) => fail(describe(err).message));
    request.end();
  });
}
