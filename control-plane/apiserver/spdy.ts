// The server side of SPDY/3.1 as Kubernetes' streaming uses it (kubectl's port-forward at every
// version, and exec, attach and cp before 1.30): the client opens streams with SYN_STREAM, each
// carrying its own headers (streamType, port, requestID), the server answers each with SYN_REPLY,
// and DATA frames flow both ways until FIN or RST_STREAM. No HTTP semantics ride on it, which is
// why the one JavaScript SPDY library (spdy-transport, unmaintained since 2018) does not fit: it
// refuses a stream without `:method` and `:path`. This is the subset kubectl's spdystream needs.
//
// Header blocks are zlib-compressed with the SPDY/3 dictionary as one stream per direction.
// Incoming ones are inflated from everything received so far (they are tens of bytes, and a
// session opens a handful of streams); outgoing ones are written as deflate "stored" blocks,
// which every inflater reads and which need no compressor state. Flow control: a WINDOW_UPDATE
// answers each DATA frame received, so a peer that counts windows never stalls; the peer's
// windows are not enforced on what is sent (spdystream does not send updates either).
import { EventEmitter } from 'node:events';
import type { Duplex as DuplexSocket } from 'node:stream';
import { Duplex } from 'node:stream';
import { constants, inflateSync } from 'node:zlib';
import { spdy3Dictionary } from './spdy-dictionary.ts';

const type = { synStream: 1, synReply: 2, rstStream: 3, settings: 4, ping: 6, goaway: 7, headers: 8, windowUpdate: 9 } as const;
const flagFin = 0x01;
const rstCancel = 5;
// A DATA frame carries at most this much: big writes are split so streams interleave.
const maxDataFrame = 64 * 1024;
// A header block larger than this, inflated, is refused: a stream's headers are a few dozen bytes.
const maxHeaderBytes = 64 * 1024;
// Header blocks are inflated from the session's whole compressed history: a session that opens
// more than about ten thousand streams (two per port-forwarded connection) is closed.
const maxCompressedHistory = 512 * 1024;

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) { a = (a + byte) % 65521; b = (b + a) % 65521; }
  return ((b << 16) | a) >>> 0;
}

/** The zlib stream header that names the SPDY/3 dictionary: CMF 0x78, FLG with FDICT, DICTID. */
const zlibHeader = (() => {
  const cmf = 0x78;
  let flg = 0x20; // FDICT, FLEVEL 0
  flg += 31 - ((cmf * 256 + flg) % 31);
  const header = Buffer.alloc(6);
  header[0] = cmf;
  header[1] = flg;
  header.writeUInt32BE(adler32(spdy3Dictionary), 2);
  return header;
})();

const syncFlushMarker = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/** An uncompressed header block: pair count, then each name and value with a 32-bit length. */
function encodeHeaders(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  parts.push(u32(Object.keys(headers).length));
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(value);
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaders(block: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  let at = 0;
  const u32 = () => { if (at + 4 > block.length) throw new Error('truncated header block'); const n = block.readUInt32BE(at); at += 4; return n; };
  const bytes = (n: number) => { if (at + n > block.length) throw new Error('truncated header block'); const b = block.subarray(at, at + n); at += n; return b; };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = bytes(u32()).toString('utf8').toLowerCase();
    // Several values are NUL-separated; the first is what Kubernetes' headers need.
    headers[name] = bytes(u32()).toString('utf8').split('\0')[0] ?? '';
  }
  return headers;
}

export class SpdyStream extends Duplex {
  private replied = false;

  constructor(private readonly session: SpdySession, readonly id: number, readonly headers: Record<string, string>) {
    super({ allowHalfOpen: true });
    // A write racing the session's end fails here; the session reports why it ended ('close').
    this.on('error', () => undefined);
  }

  /** Answers the stream's SYN_STREAM (a client waits for it before it writes). */
  reply(): void {
    if (this.replied) return;
    this.replied = true;
    this.session.send(type.synReply, 0, Buffer.concat([this.idBytes(), this.session.headerBlock({})]));
  }

  override _read(): void { /* DATA frames are pushed as they arrive */ }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.reply();
    this.session.sendData(this.id, chunk, false, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.reply();
    this.session.sendData(this.id, Buffer.alloc(0), true, done);
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    this.session.forget(this, !this.writableFinished || !this.readableEnded);
    done(err);
  }

  private idBytes(): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(this.id); return b; }
}

/** A SPDY/3.1 server session on `socket`; emits 'stream' for each stream the client opens, 'close' once. */
export class SpdySession extends EventEmitter {
  private pending: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private compressedIn: Buffer = Buffer.alloc(0);
  private inflatedLength = 0;
  private sentHeaderBlock = false;
  private closed = false;

  constructor(private readonly socket: DuplexSocket) {
    super();
    socket.on('data', (d: Buffer) => {
      try {
        this.onData(d);
      } catch (err) {
        this.close(err as Error);
      }
    });
    socket.on('end', () => this.close());
    socket.on('close', () => this.close());
    socket.on('error', (err: Error) => this.close(err));
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    // Without the error: a session's reset (a killed kubectl) ends its streams, and is the
    // session's to report ('close' carries it), not an 'error' on every stream nobody listens to.
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.socket.destroy();
    this.emit('close', err);
  }

  /** A header block for an outgoing frame: the dictionary's zlib header first, then a stored block. */
  headerBlock(headers: Record<string, string>): Buffer {
    const raw = encodeHeaders(headers);
    const stored = Buffer.alloc(5);
    stored[0] = 0x00; // BFINAL 0, BTYPE 00 (stored), padded to the byte
    stored.writeUInt16LE(raw.length, 1);
    stored.writeUInt16LE(~raw.length & 0xffff, 3);
    const first = this.sentHeaderBlock ? [] : [zlibHeader];
    this.sentHeaderBlock = true;
    // Then an empty stored block, as zlib's sync flush ends a block: Go's inflater hands out a
    // stored block's bytes only once it has read the next block's header, which must be here.
    return Buffer.concat([...first, stored, raw, syncFlushMarker]);
  }

  send(frameType: number, flags: number, payload: Buffer): void {
    if (this.closed) return;
    const head = Buffer.alloc(8);
    head.writeUInt16BE(0x8000 | 3, 0);
    head.writeUInt16BE(frameType, 2);
    head.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
    this.socket.write(Buffer.concat([head, payload]));
  }

  sendData(id: number, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    if (this.closed) { done(new Error('the SPDY session is closed')); return; }
    let ok = true;
    for (let at = 0; at < data.length || (at === 0 && fin); at += maxDataFrame) {
      const part = data.subarray(at, at + maxDataFrame);
      const last = at + maxDataFrame >= data.length;
      const head = Buffer.alloc(8);
      head.writeUInt32BE(id & 0x7fffffff, 0);
      head.writeUInt32BE((((fin && last ? flagFin : 0) << 24) | part.length) >>> 0, 4);
      ok = this.socket.write(Buffer.concat([head, part]));
      if (data.length === 0) break;
    }
    if (ok) done(); else this.socket.once('drain', () => done());
  }

  forget(stream: SpdyStream, reset: boolean): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (reset && !this.closed) {
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(stream.id & 0x7fffffff, 0);
      payload.writeUInt32BE(rstCancel, 4);
      this.send(type.rstStream, 0, payload);
    }
  }

  private onData(d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    while (this.pending.length >= 8 && !this.closed) {
      const length = this.pending.readUInt32BE(4) & 0xffffff;
      if (this.pending.length < 8 + length) break;
      const frame = this.pending.subarray(0, 8 + length);
      this.pending = this.pending.subarray(8 + length);
      this.handle(frame);
    }
  }

  private handle(frame: Buffer): void {
    const flags = frame[4]!;
    const payload = frame.subarray(8);
    if ((frame[0]! & 0x80) === 0) {
      const id = frame.readUInt32BE(0) & 0x7fffffff;
      const stream = this.streams.get(id);
      if (payload.length > 0) {
        stream?.push(payload);
        this.windowUpdate(id, payload.length);
        this.windowUpdate(0, payload.length);
      }
      if (stream && flags & flagFin) stream.push(null);
      return;
    }
    const version = frame.readUInt16BE(0) & 0x7fff;
    if (version !== 3) throw new Error(`SPDY version ${version} is not spoken here (3.1 is)`);
    switch (frame.readUInt16BE(2)) {
      case type.synStream: {
        const id = payload.readUInt32BE(0) & 0x7fffffff;
        const stream = new SpdyStream(this, id, this.inflateHeaders(payload.subarray(10)));
        this.streams.set(id, stream);
        if (flags & flagFin) stream.push(null);
        this.emit('stream', stream);
        break;
      }
      case type.rstStream: {
        const stream = this.streams.get(payload.readUInt32BE(0) & 0x7fffffff);
        if (stream) { this.streams.delete(stream.id); stream.destroy(); }
        break;
      }
      case type.ping:
        this.socket.write(frame); // answered with the same id
        break;
      case type.goaway:
        this.close();
        break;
      case type.headers:
        this.inflateHeaders(payload.subarray(4)); // keeps the inflater in step; nothing to act on
        break;
      default: // SETTINGS, WINDOW_UPDATE: nothing to do
    }
  }

  /** Inflates one header block, continuing the connection's zlib stream. */
  private inflateHeaders(block: Buffer): Record<string, string> {
    this.compressedIn = Buffer.concat([this.compressedIn, block]);
    if (this.compressedIn.length > maxCompressedHistory) throw new Error('this SPDY session has opened too many streams: open a new one');
    const all = inflateSync(this.compressedIn, { dictionary: spdy3Dictionary, finishFlush: constants.Z_SYNC_FLUSH });
    const mine = all.subarray(this.inflatedLength);
    this.inflatedLength = all.length;
    if (mine.length > maxHeaderBytes) throw new Error('a SPDY header block is too large');
    return decodeHeaders(mine);
  }

  private windowUpdate(id: number, delta: number): void {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(id & 0x7fffffff, 0);
    payload.writeUInt32BE(delta & 0x7fffffff, 4);
    this.send(type.windowUpdate, 0, payload);
  }
}
