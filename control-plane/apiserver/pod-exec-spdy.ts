// exec and attach for kubectl 1.27–1.29, which speak them only over SPDY (remotecommand
// `v4.channel.k8s.io`): the client opens one stream per channel, named by its `streamType`
// header (error, stdin, stdout, stderr, resize). The API server turns them into the WebSocket
// channel protocol the agent speaks (v5, so the end of stdin travels too): stdin's data and its
// end, resize events (back-to-back JSON objects on their stream), and back out stdout, stderr and
// the final Status on the error stream, which is how a v4 client learns the exit code.
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { channel, frame, type ExecOptions } from '../api/remotecommand.ts';
import { SpdySession, type SpdyStream } from './spdy.ts';

export const spdyExecProtocol = 'v4.channel.k8s.io';

/** Whether the client's X-Stream-Protocol-Version offers (comma-separated or repeated) v4. */
export function offersSpdyExecProtocol(header: string | string[] | undefined): boolean {
  return [header ?? []].flat().join(',').split(',').map((p) => p.trim()).includes(spdyExecProtocol);
}

/** Completes the SPDY upgrade on `socket` and relays its streams to `upstream`, an open v5 WebSocket to the agent. */
export function serveExecSpdy(socket: Duplex, head: Buffer, upstream: WebSocket, options: ExecOptions): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${spdyExecProtocol}\r\n\r\n`);
  if (head.length) socket.unshift(head);
  const session = new SpdySession(socket);
  const streams = new Map<string, SpdyStream>();
  // Output that comes before the client has opened its stream waits for it.
  const waiting = new Map<string, Buffer[]>();
  const deliver = (type: string, data: Buffer) => {
    const stream = streams.get(type);
    if (stream) stream.write(data); else waiting.set(type, [...waiting.get(type) ?? [], data]);
  };
  let finished = false;
  let upstreamClosed = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    for (const s of streams.values()) s.end();
    // Once everything written has left, the session ends (the client is waiting for it).
    setImmediate(() => socket.end());
  };

  session.on('stream', (stream: SpdyStream) => {
    stream.reply();
    const type = stream.headers.streamtype ?? '';
    streams.set(type, stream);
    for (const data of waiting.get(type) ?? []) stream.write(data);
    waiting.delete(type);
    if (upstreamClosed && waiting.size === 0) finish();
    if (type === 'stdin') {
      stream.on('data', (d: Buffer) => { if (upstream.readyState === WebSocket.OPEN) upstream.send(frame(channel.stdin, d)); });
      stream.on('end', () => { if (upstream.readyState === WebSocket.OPEN) upstream.send(Buffer.from([channel.close, channel.stdin])); });
    } else if (type === 'resize') {
      let text = '';
      stream.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        // JSON objects one after another, with no separator: each ends at its closing brace.
        let end: number;
        while ((end = text.indexOf('}')) >= 0) {
          const object = text.slice(0, end + 1).trim();
          text = text.slice(end + 1);
          if (object && upstream.readyState === WebSocket.OPEN) upstream.send(frame(channel.resize, object));
        }
      });
    } else {
      stream.resume(); // error, stdout, stderr: the client only reads them
    }
    if (finished) stream.end();
  });
  session.on('close', () => { if (upstream.readyState === WebSocket.OPEN || upstream.readyState === WebSocket.CONNECTING) upstream.close(1000); });

  upstream.on('message', (data: Buffer) => {
    const body = data.subarray(1);
    if (data[0] === channel.stdout) deliver('stdout', body);
    else if (data[0] === channel.stderr) deliver(options.tty ? 'stdout' : 'stderr', body);
    else if (data[0] === channel.error) deliver('error', body);
  });
  upstream.on('close', () => {
    upstreamClosed = true;
    // Output whose stream the client has not opened yet goes when it opens (or in 5 s, never).
    if (waiting.size === 0) finish();
    else setTimeout(finish, 5_000).unref();
  });
  upstream.on('error', () => session.close());
}
