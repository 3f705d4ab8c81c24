// labkube's SPDY/3.1 server session (control-plane/apiserver/spdy.ts) at the frame level: a
// stream opened with compressed headers, its reply readable by zlib with the SPDY/3 dictionary,
// data both ways, and a connection reset that ends every stream without an unhandled error.
// kubectl itself drives it in test/kubectl/exec.test.ts.
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { constants, createDeflate, inflateSync } from 'node:zlib';
import { spdy3Dictionary } from '../../control-plane/apiserver/spdy-dictionary.ts';
import { decodeHeaders, SpdySession, type SpdyStream } from '../../control-plane/apiserver/spdy.ts';

/** The client's end of a socket: what the session writes is collected; `feed` delivers bytes to it. */
function socketPair() {
  const written: Buffer[] = [];
  const socket = new Duplex({ read() {}, write(chunk: Buffer, _e, done) { written.push(chunk); done(); } });
  return { socket, written, feed: (b: Buffer) => socket.push(b) };
}

/** A client's header compressor: one zlib stream for the connection, a sync flush per block. */
function compressor() {
  const deflate = createDeflate({ dictionary: spdy3Dictionary });
  return (headers: Record<string, string>) => new Promise<Buffer>((resolve) => {
    const parts: Buffer[] = [Buffer.from([0, 0, 0, Object.keys(headers).length])];
    for (const [k, v] of Object.entries(headers)) {
      for (const s of [k, v]) { const b = Buffer.from(s); const n = Buffer.alloc(4); n.writeUInt32BE(b.length); parts.push(n, b); }
    }
    const out: Buffer[] = [];
    const onData = (d: Buffer) => out.push(d);
    deflate.on('data', onData);
    deflate.write(Buffer.concat(parts));
    deflate.flush(constants.Z_SYNC_FLUSH, () => { setImmediate(() => { deflate.off('data', onData); resolve(Buffer.concat(out)); }); });
  });
}

const control = (type: number, flags: number, payload: Buffer) => {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8003, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([head, payload]);
};
const synStream = (id: number, block: Buffer) => { const p = Buffer.alloc(10); p.writeUInt32BE(id); return control(1, 0, Buffer.concat([p, block])); };
const data = (id: number, body: Buffer, fin = false) => { const h = Buffer.alloc(8); h.writeUInt32BE(id); h.writeUInt32BE(((fin ? 1 : 0) << 24 | body.length) >>> 0, 4); return Buffer.concat([h, body]); };

test('streams open with their headers, replies inflate with the dictionary, data flows both ways', async () => {
  const { socket, written, feed } = socketPair();
  const session = new SpdySession(socket);
  const opened: SpdyStream[] = [];
  session.on('stream', (s: SpdyStream) => { opened.push(s); s.reply(); });
  const compress = compressor();
  feed(synStream(1, await compress({ streamtype: 'error', port: '80', requestid: '0' })));
  feed(synStream(3, await compress({ streamtype: 'data', port: '80', requestid: '0' })));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(opened.map((s) => [s.id, s.headers]), [
    [1, { streamtype: 'error', port: '80', requestid: '0' }], [3, { streamtype: 'data', port: '80', requestid: '0' }]]);
  // Two SYN_REPLYs: their header blocks continue one zlib stream, which inflates to two empty blocks.
  const replies = written.filter((b) => b.readUInt16BE(2) === 2 && (b[0]! & 0x80) !== 0);
  assert.equal(replies.length, 2);
  const inflated = inflateSync(Buffer.concat(replies.map((r) => r.subarray(12))), { dictionary: spdy3Dictionary, finishFlush: constants.Z_SYNC_FLUSH });
  assert.deepEqual(inflated, Buffer.alloc(8));
  assert.deepEqual(decodeHeaders(inflated.subarray(0, 4)), {});

  const received: Buffer[] = [];
  opened[1]!.on('data', (d: Buffer) => received.push(d));
  feed(data(3, Buffer.from('GET / HTTP/1.1\r\n\r\n')));
  await new Promise((r) => setImmediate(r));
  assert.equal(Buffer.concat(received).toString(), 'GET / HTTP/1.1\r\n\r\n');
  written.length = 0;
  opened[1]!.end(Buffer.from('HTTP/1.1 200 OK\r\n'));
  await new Promise((r) => setImmediate(r));
  const frames = written.filter((b) => (b[0]! & 0x80) === 0);
  assert.equal(Buffer.concat(frames.map((f) => f.subarray(8))).toString(), 'HTTP/1.1 200 OK\r\n');
  assert.equal(frames.at(-1)![4], 1, 'the last frame carries FIN');
});

test('a connection reset ends every stream, and is no unhandled error', async () => {
  const { socket, feed } = socketPair();
  const session = new SpdySession(socket);
  const streams: SpdyStream[] = [];
  session.on('stream', (s: SpdyStream) => streams.push(s));
  const closed = new Promise<Error | undefined>((resolve) => session.once('close', resolve));
  feed(synStream(1, await compressor()({ streamtype: 'stdout' })));
  await new Promise((r) => setImmediate(r));
  socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  assert.match((await closed)?.message ?? '', /ECONNRESET/);
  assert.ok(streams[0]!.destroyed);
  streams[0]!.write('late'); // a write racing the reset fails quietly
  await new Promise((r) => setTimeout(r, 20));
});
