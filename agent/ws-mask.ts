// WebSocket frame masking for ws, a 32-bit word at a time. ws takes it as `bufferutil`, its
// optional native speed-up; the agent's bundle maps that name to this file (agent/build.mjs).
// Boards run node in lite mode, without a JIT (ansible/group_vars/all.yml): there ws's own loop,
// a byte at a time, unmasks about 12 MB/s on a PC core and a fraction of that on a Pi, and every
// byte a client sends into an exec (kubectl cp into a pod, port-forward uploads) is unmasked by
// the agent. A word at a time is 6x faster there (8 MB in 0.1 s) and no slower with a JIT.

/** XORs `buffer` in place with the 4-byte `mask`, repeated from the buffer's first byte. */
export function unmask(buffer: Uint8Array, mask: Uint8Array): void {
  const n = buffer.length;
  let i = 0;
  // Bytes up to a 4-byte boundary of the underlying memory, then whole words, then the tail.
  for (const head = Math.min(n, (4 - (buffer.byteOffset & 3)) & 3); i < head; i++) buffer[i]! ^= mask[i & 3]!;
  const words = (n - i) >>> 2;
  if (words > 0) {
    // The mask as one word, turned to start at byte i; the platform's byte order either way.
    const word = new Uint32Array(Uint8Array.of(mask[i & 3]!, mask[(i + 1) & 3]!, mask[(i + 2) & 3]!, mask[(i + 3) & 3]!).buffer)[0]!;
    const view = new Uint32Array(buffer.buffer, buffer.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w]! ^= word;
    i += words * 4;
  }
  for (; i < n; i++) buffer[i]! ^= mask[i & 3]!;
}

/** Writes `source[0, length)` XOR `mask` to `output` from `offset`. */
export function mask(source: Uint8Array, maskBytes: Uint8Array, output: Uint8Array, offset: number, length: number): void {
  output.set(source.subarray(0, length), offset);
  unmask(output.subarray(offset, offset + length), maskBytes);
}
