// How a board runs node for the agent (issue 14: under 60 MB of RSS): the ansible role's node
// flags and environment reach the agent through both of its service definitions, and the bundle
// runs under them without a word on stderr (a warning there would be in the board's log at every start).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { boardNodeOptions, buildAgentBundle } from './support.ts';

const repo = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
const template = (name: string) => readFileSync(join(repo, 'ansible/roles/agent/templates', name), 'utf8');

test('the systemd unit and the supervisor both run node with the role\'s flags and environment', () => {
  const env = template('agent.env.j2');
  assert.match(env, /^LABKUBE_AGENT_NODE_FLAGS="\{\{ labkube_agent_node_flags \| join\(' '\) \}\}"$/m);
  assert.match(env, /\{% for name, value in labkube_agent_environment.items\(\) %\}\n\{\{ name \}\}="\{\{ value \}\}"/);
  const unit = template('labkube-agent.service.j2');
  assert.match(unit, /^EnvironmentFile=.*\/agent\.env$/m);
  assert.match(unit, /^ExecStart=\/usr\/bin\/node \$LABKUBE_AGENT_NODE_FLAGS .+\/labkube-agent\.mjs \$LABKUBE_AGENT_ARGS$/m);
  const supervise = template('labkube-agent-supervise.j2');
  // `set -a` exports what agent.env sets, as systemd's EnvironmentFile does.
  assert.match(supervise, /set -a\n\s*\. .+\/agent\.env\n\s*set \+a/);
  assert.match(supervise, /\/usr\/bin\/node \$LABKUBE_AGENT_NODE_FLAGS .+\/labkube-agent\.mjs \$LABKUBE_AGENT_ARGS/);
  const { nodeFlags, env: vars } = boardNodeOptions();
  assert.ok(nodeFlags.length > 0 && nodeFlags.every((f) => f.startsWith('--')), `node flags: ${nodeFlags.join(' ')}`);
  for (const [name, value] of Object.entries(vars)) assert.match(`${name}=${value}`, /^[A-Z_][A-Z0-9_]*=\S+$/);
});

test('the bundled agent runs under the board\'s node flags with nothing on stderr', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'labkube-board-node-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = await buildAgentBundle(dir);
  const { nodeFlags, env } = boardNodeOptions();
  const run = spawnSync(process.execPath, [...nodeFlags, bundle, '--help'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  assert.equal(run.stderr, '');
  assert.equal(run.status, 0);
  assert.match(run.stdout, /--pod-network/);
  // The flags are the ones node was given, not silently dropped.
  const execArgv = execFileSync(process.execPath, [...nodeFlags, '-p', 'JSON.stringify(process.execArgv)'], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(execArgv), [...nodeFlags, '-p', 'JSON.stringify(process.execArgv)']);
});
