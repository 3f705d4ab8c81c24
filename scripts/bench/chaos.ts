// Chaos soak on simulated boards (scripts/lab.sh, scripts/lab/chaos.ts): 10% and then 30% random
// packet loss on every board's link, while board3's cable flaps every 5 s, with 6 nginx replicas.
// Per phase it counts false NotReady (a board never unplugged marked NotReady), false evictions
// (pods deleted from such a board), the time from the flapping's end to exactly the desired
// replicas, and stale or duplicate containers (`docker ps` in each board against the API).
//
//   npx tsx scripts/bench/chaos.ts [--losses 10,30] [--flap-s 45] [--soak-s 100] [--replicas 6]
//       [--server-args "--node-grace-period 6"]
//
// The whole run is bounded: the soak by a 9-minute guard once the lab is up, the lab's coming up
// and going down by lab.sh's timeouts (about 7 minutes in all on a quiet machine).
// Run it under `flock /tmp/labkube-lab.lock` beside other labs. The last line is machine-readable,
// the first phase's figures (10%) unprefixed and every phase's with a suffix:
//   false_notready=N false_evictions=M converge_s=X stale_containers=K false_notready_30=...
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/support/process.ts';
import { formatPhase, runChaos, type ChaosOptions, type PhaseResult } from '../lab/chaos.ts';
import { Lab } from '../lab/lab.ts';

const { values: flags } = parseArgs({
  options: {
    losses: { type: 'string', default: '10,30' },
    'flap-s': { type: 'string', default: '45' },
    'soak-s': { type: 'string', default: '100' },
    'converge-timeout-s': { type: 'string', default: '60' },
    'deploy-timeout-s': { type: 'string', default: '180' },
    replicas: { type: 'string', default: '6' },
    'server-args': { type: 'string', default: '' },
    out: { type: 'string' },
  },
});
const log = (s: string) => process.stderr.write(`chaos: ${s}\n`);
const started = Date.now();
// The soak's bound once the lab is up (about 8 minutes with the defaults: two phases of 100 s and
// their convergence); past it the lab is taken down. Bringing a lab up takes 2 to 3 minutes on a
// quiet machine (far longer on a loaded one), bounded by lab.sh's own timeouts.
const budgetMs = 9 * 60_000;

const boards = ['board1', 'board2', 'board3'];
const options: ChaosOptions = {
  boards, flapper: 'board3', replicas: Number(flags.replicas),
  losses: flags.losses!.split(',').map((p) => Number(p) / 100),
  flapMs: Number(flags['flap-s']) * 1000, flapEveryMs: 5_000, soakMs: Number(flags['soak-s']) * 1000,
  convergeTimeoutMs: Number(flags['converge-timeout-s']) * 1000, deployTimeoutMs: Number(flags['deploy-timeout-s']) * 1000, log,
};

const lab = new Lab({
  name: 'labkube-chaos', dir: mkdtempSync(join(tmpdir(), 'labkube-chaos-')), subnet: '172.29.82.0/24', port: await freePort(),
  serverArgs: flags['server-args']!.split(' ').filter(Boolean), log: (l) => log(l),
});
const stopOnSignal = () => { void lab.down().finally(() => process.exit(130)); };
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);
let guard: NodeJS.Timeout | undefined;

let results: PhaseResult[] = [];
try {
  log(`lab up (${boards.length} boards), ${options.replicas} replicas, losses ${flags.losses}%`);
  await lab.up(boards.length);
  log(`lab up after ${((Date.now() - started) / 1000).toFixed(0)} s`);
  guard = setTimeout(() => { log(`the soak's ${budgetMs / 60_000}-minute budget is spent: taking the lab down`); stopOnSignal(); }, budgetMs);
  guard.unref();
  results = await runChaos(lab, options);
} finally {
  await lab.down().catch((err: Error) => log(`down: ${err.message}`));
  clearTimeout(guard);
}

for (const r of results) console.log(formatPhase(r));
console.log(`whole run ${((Date.now() - started) / 1000).toFixed(0)} s`);
const out = flags.out ?? join(process.cwd(), 'test-output', 'chaos.json');
try { mkdirSync(dirname(out), { recursive: true }); writeFileSync(out, JSON.stringify({ flags, results }, null, 2) + '\n'); console.log(`results: ${out}`); } catch { /* no output folder */ }
const pairs = (r: PhaseResult, suffix: string) => [
  `false_notready${suffix}=${r.falseNotReady}`, `false_evictions${suffix}=${r.falseEvictions}`,
  `converge_s${suffix}=${r.convergeS === undefined ? 'NA' : r.convergeS.toFixed(1)}`, `stale_containers${suffix}=${r.staleContainers + r.duplicateContainers}`,
];
console.log([...(results[0] ? pairs(results[0], '') : []), ...results.slice(1).flatMap((r) => pairs(r, `_${Math.round(r.loss * 100)}`))].join(' '));
