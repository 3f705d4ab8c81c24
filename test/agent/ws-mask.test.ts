// The word-at-a-time WebSocket masking the agent's bundle gives ws (agent/ws-mask.ts) agrees with
// ws's own byte-at-a-time loop for every length and alignment.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { mask, unmask } from '../../agent/ws-mask.ts';

const byteByByte = (data: Uint8Array, key: Uint8Array) => Uint8Array.from(data, (b, i) => b ^ key[i & 3]!);

test('unmask agrees with the byte loop at every length and alignment', () => {
  const key = randomBytes(4);
  const backing = randomBytes(300);
  for (let start = 0; start < 8; start++) {
    for (const length of [0, 1, 3, 4, 5, 31, 32, 33, 64, 127, 255]) {
      const region = Buffer.from(backing).subarray(start, start + length);
      const expected = byteByByte(region, key);
      unmask(region, key);
      assert.deepEqual(Uint8Array.from(region), expected, `start ${start}, length ${length}`);
    }
  }
});

test('mask writes the masked source at the offset and leaves the rest of the output alone', () => {
  const key = randomBytes(4);
  const source = randomBytes(100);
  const original = Buffer.from(source);
  for (const offset of [0, 1, 2, 6, 14]) {
    for (const length of [0, 7, 48, 99, 100]) {
      const output = Buffer.alloc(120, 0xee);
      mask(source, key, output, offset, length);
      assert.deepEqual(Uint8Array.from(output.subarray(offset, offset + length)), byteByByte(source.subarray(0, length), key));
      assert.ok(output.subarray(0, offset).every((b) => b === 0xee) && output.subarray(offset + length).every((b) => b === 0xee));
      assert.deepEqual(source, original);
    }
  }
});
