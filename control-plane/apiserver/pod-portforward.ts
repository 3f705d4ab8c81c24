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
import { agentRefusal, requestAgent, type AgentEndpoint, type AgentTrust } from './agent-dial.ts';
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

/** The official clients' port-forward: WebSocket channels, a data and an error channel per port of `?ports=`. */
export const portForwardChannelsProtocol = 'v4.channel.k8s.io';

/**
 * Which transport the request asks for: a SPDY upgrade, a WebSocket tunnel of SPDY (kubectl),
 * WebSocket channels (the official clients), or none of these.
 */
export function portForwardTransport(req: IncomingMessage): 'spdy' | 'websocket' | 'channels' | undefined {
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  if (upgrade === 'spdy/3.1') return 'spdy';
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (upgrade === 'websocket' && offered.includes(portForwardTunnelProtocol)) return 'websocket';
  if (upgrade === 'websocket' && offered.includes(portForwardChannelsProtocol)) return 'channels';
  return undefined;
}

/**
 * The channels variant, as the kubelet serves it: for the i-th port of `ports`, channel 2i
 * carries data and 2i+1 errors, and each channel's first message is the port (16 bits, little
 * endian). Each port is one connection to the pod, opened at once; when every one has ended the
 * WebSocket closes.
 */
export function servePortForwardChannels(ws: WebSocket, ports: number[], target: PortForwardTarget): void {
  const tunnels: Duplex[] = [];
  // What the client sends before its port's connection is up waits for it.
  const early: Buffer[][] = ports.map(() => []);
  let open = ports.length;
  const ended = () => { if (--open === 0 && ws.readyState === ws.OPEN) ws.close(1000); };
  ports.forEach((port, i) => {
    const [data, error] = [2 * i, 2 * i + 1];
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    ws.send(Buffer.concat([Buffer.from([data]), portBytes]));
    ws.send(Buffer.concat([Buffer.from([error]), portBytes]));
    const fail = (message: string) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([error]), Buffer.from(message)]));
      ended();
    };
    dialPod(target, port, (tunnel, rest) => {
      tunnels[i] = tunnel;
      for (const b of early[i]!.splice(0)) tunnel.write(b);
      const forward = (d: Buffer) => { if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([data]), d])); };
      if (rest.length) forward(rest);
      tunnel.on('data', forward);
      tunnel.on('end', ended);
      tunnel.on('error', () => undefined);
    }, fail);
  });
  ws.on('message', (message: Buffer) => {
    const i = message[0]! / 2;
    if (!Number.isInteger(i) || i >= ports.length) return;
    if (tunnels[i]) tunnels[i]!.write(message.subarray(1)); else early[i]!.push(message.subarray(1));
  });
  ws.on('close', () => { for (const t of tunnels) t?.destroy(); });
  ws.on('error', () => ws.terminate()); // a client's protocol error ends its forward, not the server
}

/** Opens a TCP tunnel through the agent to `port` of the pod: `connected` with it, or `failed` with the reason. */
function dialPod(target: PortForwardTarget, port: number, connected: (tunnel: Duplex, rest: Buffer) => void, failed: (message: string) => void): void {
  const { request, describe } = requestAgent(target.trust, target.endpoint, {
    method: 'GET',
    path: `/portForward/${encodeURIComponent(target.namespace)}/${encodeURIComponent(target.pod)}?port=${port}`,
    headers: { Authorization: `Bearer ${target.token()}`, Connection: 'Upgrade', Upgrade: 'tcp' },
  });
  request.on('upgrade', (_res, tunnel: Duplex, rest: Buffer) => connected(tunnel, rest));
  request.on('response', (res) => { void agentRefusal(res).then((err) => failed(err.message)); });
  request.on('error', (err) => failed(describe(err).message));
  request.end();
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
    dialPod(target, port, (tunnel, rest) => {
      if (rest.length) stream.write(rest);
      stream.pipe(tunnel).pipe(stream);
      tunnel.on('error', () => stream.destroy());
      stream.on('error', () => tunnel.destroy());
      stream.on('close', () => tunnel.destroy());
    }, fail);
  });
}
