import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, type CommandRunner } from '../../agent/network/exec.ts';
import { Iptables } from '../../agent/network/iptables.ts';

/** Records calls; answers from `respond` (throw a CommandError to fail one). */
function recorder(respond: (args: string[], input?: string) => string = () => '') {
  const calls: { file: string; args: string[]; input?: string }[] = [];
  const run: CommandRunner = async (file, args, input) => {
    calls.push({ file, args, ...(input && { input }) });
    return { stdout: respond(args, input), stderr: '' };
  };
  return { calls, run };
}
const missing = (cmd: string) => new CommandError(cmd, 1, 'no such chain');

test('replaceRules swaps one chain in a single iptables-restore --noflush transaction', async () => {
  const r = recorder();
  await new Iptables({ run: r.run }).replaceRules('nat', 'T-POST', [
    ['-s', '10.42.1.0/24', '!', '-d', '10.42.0.0/16', '-j', 'MASQUERADE'],
    ['-m', 'comment', '--comment', 'pod "traffic" out', '-j', 'RETURN'],
  ]);
  assert.equal(r.calls.length, 1);
  assert.equal(r.calls[0].file, 'iptables-restore');
  assert.deepEqual(r.calls[0].args, ['-w', '5', '--noflush']);
  assert.equal(r.calls[0].input, [
    '*nat', ':T-POST - [0:0]',
    '-A T-POST -s 10.42.1.0/24 ! -d 10.42.0.0/16 -j MASQUERADE',
    '-A T-POST -m comment --comment "pod \\"traffic\\" out" -j RETURN',
    'COMMIT', '',
  ].join('\n'));
});

test('ensureChain creates a missing chain and leaves an existing one alone', async () => {
  const exists = new Set<string>(['OLD']);
  const r = recorder((args) => {
    const i = args.indexOf('-S');
    if (i >= 0 && !exists.has(args[i + 1])) throw missing(args.join(' '));
    if (args.includes('-N')) exists.add(args[args.indexOf('-N') + 1]);
    return '';
  });
  const ipt = new Iptables({ run: r.run });
  await ipt.ensureChain('filter', 'OLD');
  await ipt.ensureChain('filter', 'NEW');
  assert.deepEqual(r.calls.filter((c) => c.args.includes('-N')).map((c) => c.args.slice(-1)[0]), ['NEW']);
});

test('ensureJump inserts a missing jump first and moves one that Docker pushed down', async () => {
  let forward = ['-A FORWARD -j DOCKER-USER'];
  const r = recorder((args) => {
    if (args.includes('-C')) { if (!forward.some((l) => l.endsWith('-j T-FWD'))) throw missing('-C'); return ''; }
    if (args.includes('-S')) return ['-P FORWARD DROP', ...forward].join('\n');
    if (args.includes('-I')) forward = ['-A FORWARD -j T-FWD', ...forward];
    if (args.includes('-D')) forward = forward.filter((l) => !l.endsWith('-j T-FWD'));
    return '';
  });
  const ipt = new Iptables({ run: r.run });
  await ipt.ensureJump('filter', 'FORWARD', 'T-FWD', 'first');
  assert.deepEqual(forward, ['-A FORWARD -j T-FWD', '-A FORWARD -j DOCKER-USER']);
  await ipt.ensureJump('filter', 'FORWARD', 'T-FWD', 'first');
  assert.equal(r.calls.filter((c) => c.args.includes('-I')).length, 1, 'a jump already first is left alone');
  forward = ['-A FORWARD -j DOCKER-USER', '-A FORWARD -j T-FWD'];
  await ipt.ensureJump('filter', 'FORWARD', 'T-FWD', 'first');
  assert.deepEqual(forward, ['-A FORWARD -j T-FWD', '-A FORWARD -j DOCKER-USER']);
});

test('deleteChain removes every jump to the chain, then flushes and deletes it in one transaction', async () => {
  const table = [
    '-P POSTROUTING ACCEPT', '-N T-POST',
    '-A POSTROUTING -m comment --comment "labkube pods" -j T-POST',
    '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
    '-A OTHER -j T-POST-2',
    '-A T-POST -s 10.42.1.0/24 -j MASQUERADE',
  ].join('\n');
  const r = recorder((args) => (args.includes('-S') && args.length === 5 ? table : ''));
  await new Iptables({ run: r.run }).deleteChain('nat', 'T-POST');
  assert.equal(r.calls.at(-1)?.input, [
    '*nat', '-D POSTROUTING -m comment --comment "labkube pods" -j T-POST', ':T-POST - [0:0]', '-X T-POST', 'COMMIT', '',
  ].join('\n'));
});

test('deleteChain and removeJump do nothing when the chain is already gone', async () => {
  const r = recorder((args) => { if (args.includes('-S')) throw missing('-S'); return ''; });
  const ipt = new Iptables({ run: r.run });
  await ipt.deleteChain('nat', 'GONE');
  await ipt.removeJump('filter', 'FORWARD', 'GONE');
  assert.deepEqual(r.calls.map((c) => c.args.slice(-2)), [['-S', 'GONE'], ['-S', 'GONE']]);
});

test('available() is false when iptables cannot run', async () => {
  const ipt = new Iptables({ run: async () => { throw new CommandError('iptables', null, 'ENOENT'); } });
  assert.equal(await ipt.available(), false);
});

test('on the host: chains and jumps in test-only chains are created, replaced and removed', async (t) => {
  const ipt = new Iptables();
  assert.equal(await ipt.available(), true, 'the test machine runs iptables as root');
  const parent = `D2T-P-${process.pid}`;
  const child = `D2T-C-${process.pid}`;
  t.after(async () => { await ipt.deleteChain('filter', child); await ipt.deleteChain('filter', parent); });
  await ipt.ensureChain('filter', parent);
  await ipt.ensureChain('filter', child);
  await ipt.replaceRules('filter', parent, [['-s', '127.0.0.9/32', '-j', 'RETURN']]);
  await ipt.ensureJump('filter', parent, child, 'first', ['-m', 'comment', '--comment', 'labkube test']);
  await ipt.ensureJump('filter', parent, child, 'first', ['-m', 'comment', '--comment', 'labkube test']);
  await ipt.replaceRules('filter', child, [['-s', '127.0.0.8/32', '-j', 'ACCEPT'], ['-j', 'RETURN']]);
  assert.deepEqual(await ipt.listRules('filter', parent), [
    `-A ${parent} -m comment --comment "labkube test" -j ${child}`, `-A ${parent} -s 127.0.0.9/32 -j RETURN`,
  ]);
  assert.equal((await ipt.listRules('filter', child)).length, 2);
  await ipt.replaceRules('filter', child, [['-j', 'RETURN']]);
  assert.deepEqual(await ipt.listRules('filter', child), [`-A ${child} -j RETURN`]);
  await ipt.deleteChain('filter', child);
  assert.equal(await ipt.chainExists('filter', child), false);
  assert.deepEqual(await ipt.listRules('filter', parent), [`-A ${parent} -s 127.0.0.9/32 -j RETURN`]);
});
