// The node's facts and usage, as systeminformation reports them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boardModelFrom, measureFacts, measureUsage, osImageFrom } from '../../agent/host.ts';

test('osImage reads as os-release PRETTY_NAME, as Kubernetes reports it', () => {
  assert.equal(osImageFrom({ distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm' }), 'Debian GNU/Linux 12 (bookworm)');
  assert.equal(osImageFrom({ distro: 'Alpine Linux', release: '3.20.0', codename: '' }), 'Alpine Linux 3.20.0');
  assert.equal(osImageFrom({ distro: '', release: '', codename: '' }), 'Linux');
});

test('the board model is the device tree model without its revision', () => {
  assert.equal(boardModelFrom('Raspberry Pi 4 Model B Rev 1.4\0'), 'Raspberry Pi 4 Model B');
  assert.equal(boardModelFrom(''), undefined);
});

test('this machine measures as a Linux node with cores, memory and usage', async () => {
  const facts = await measureFacts();
  assert.equal(facts.os, 'linux');
  assert.ok(facts.cores >= 1 && facts.memoryBytes > 0 && facts.kernel && facts.hostname);
  assert.match(facts.osImage, /\S/);
  const usage = await measureUsage();
  assert.ok(usage.memoryBytes > 0 && usage.memoryBytes < facts.memoryBytes);
  assert.ok(usage.cpuCores >= 0 && usage.cpuCores <= facts.cores);
});
