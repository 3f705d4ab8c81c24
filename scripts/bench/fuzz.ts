// Fuzz benchmark (not a test): `npm run bench:fuzz`. Sends the generated bad requests of
// test/support/fuzz-requests.ts to a fresh server process over HTTPS, 8 in flight, while
// /healthz is polled every 100 ms, and compares every object before and after.
// The last line holds the headline figures:
//   requests=N non_4xx=M max_healthz_ms=X store_changed=K
// non_4xx counts answers that break the rule (5xx, a dropped connection, or a 2xx to a request
// that must be refused; a 2xx that wrote nothing to a request naming a field the server may
// ignore is allowed); store_changed counts objects added, removed or changed (1 when only the
// revision moved).
// Environment: LABKUBE_FUZZ_SEED (default fixed), FUZZ_COUNT (default 6000), FUZZ_CLASSES
// (comma-separated, default all), FUZZ_CASES (ids and ranges, "12,300-399": replay only those;
// with the FUZZ_COUNT and seed of the run that found them, since the ids depend on both),
// FUZZ_BUNDLED=1 to run the bundle (dist/, built if missing) instead of the TypeScript source.
import { fuzzClasses, fuzzSeed, generateFuzzRequests, type FuzzClass } from '../../test/support/fuzz-requests.ts';
import { headline, runFuzz, setUpFixtures, startFuzzServer, summarize } from '../../test/support/fuzz-runner.ts';

const log = (msg: string) => process.stderr.write(`${msg}\n`);

const seed = fuzzSeed();
const count = Number(process.env.FUZZ_COUNT ?? 6000);
const classes = process.env.FUZZ_CLASSES ? process.env.FUZZ_CLASSES.split(',').map((c) => c.trim()) as FuzzClass[] : undefined;
for (const c of classes ?? []) if (!(fuzzClasses as readonly string[]).includes(c)) throw new Error(`unknown class "${c}"; classes are ${fuzzClasses.join(', ')}`);
/** "12,300-399": single ids and inclusive ranges. */
function caseIds(spec: string): Set<number> {
  const ids = new Set<number>();
  for (const part of spec.split(',')) {
    const [from, to] = part.split('-').map(Number);
    for (let i = from!; i <= (to ?? from!); i++) ids.add(i);
  }
  return ids;
}
const only = process.env.FUZZ_CASES ? caseIds(process.env.FUZZ_CASES) : undefined;

const server = await startFuzzServer({ bundled: process.env.FUZZ_BUNDLED === '1' });
try {
  const { ctx, before } = await setUpFixtures(server);
  let cases = generateFuzzRequests(ctx, { seed, count, ...(classes && { classes }) });
  if (only) cases = cases.filter((c) => only.has(c.id));
  log(`seed ${seed}: ${cases.length} requests, ${[...new Set(cases.map((c) => c.class))].map((k) => `${k}:${cases.filter((c) => c.class === k).length}`).join(' ')}`);
  let lastLog = 0;
  const report = await runFuzz(server, ctx, before, cases, {
    onProgress: (done, total) => { if (Date.now() - lastLog > 5000) { lastLog = Date.now(); log(`  ${done}/${total}`); } },
  });
  log(summarize(report, seed));
  console.log(headline(report));
} finally {
  await server.stop();
}
