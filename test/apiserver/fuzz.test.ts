// Throws over 5,000 generated bad requests (test/support/fuzz-requests.ts) at a real server
// process over HTTPS, as the admin, a node and the join token, 8 at a time, and holds the server
// to three rules: every request gets a 4xx (no 5xx, no dropped connection, no bad request
// accepted); /healthz, polled every 100 ms throughout, answers within a second each time; and
// the store ends exactly as it began. A failure prints its seed: LABKUBE_FUZZ_SEED=<seed> replays
// the same requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzClasses, fuzzSeed, generateFuzzRequests } from '../support/fuzz-requests.ts';
import { headline, runFuzz, setUpFixtures, startFuzzServer, summarize } from '../support/fuzz-runner.ts';

// Over the 5,000, and small enough to finish in well under three minutes on a busy 2-core box.
const requestCount = 5200;
// The bound: the server answers /healthz within a second throughout.
const healthzBudgetMs = 1000;

test(`${requestCount} generated bad requests each get a 4xx, never stall /healthz, and change nothing`, { timeout: 8 * 60_000 }, async (t) => {
  const seed = fuzzSeed();
  const started = Date.now();
  const server = await startFuzzServer();
  try {
    const { ctx, before } = await setUpFixtures(server);
    t.diagnostic(`server and fixtures ready in ${Date.now() - started} ms`);
    const cases = generateFuzzRequests(ctx, { seed, count: requestCount });
    assert.ok(cases.length >= 5000, `only ${cases.length} requests were generated (seed ${seed})`);
    for (const c of fuzzClasses) {
      const credentials = new Set(cases.filter((x) => x.class === c).map((x) => x.credential));
      for (const who of ['admin', 'node', 'join'] as const) assert.ok(credentials.has(who), `class ${c} has no request as ${who} (seed ${seed})`);
    }

    const report = await runFuzz(server, ctx, before, cases);
    const summary = summarize(report, seed);
    t.diagnostic(headline(report));
    const problems: string[] = [];
    if (report.serverExit) problems.push('the server process died');
    const count = (kind: string) => report.failures.filter((f) => f.kind === kind).length;
    if (count('server-error')) problems.push(`${count('server-error')} requests answered 5xx`);
    if (count('dropped')) problems.push(`${count('dropped')} requests got no answer (connection dropped)`);
    if (count('accepted')) problems.push(`${count('accepted')} bad requests were accepted (2xx/3xx)`);
    if (count('wrote')) problems.push(`${count('wrote')} chunks of rejected requests moved the store's revision`);
    if (report.healthz.maxMs > healthzBudgetMs) problems.push(`/healthz took up to ${Math.round(report.healthz.maxMs)} ms (${report.healthz.over1s} polls over 1 s)`);
    if (report.healthz.errors.length) problems.push(`/healthz failed: ${report.healthz.errors.slice(0, 3).join('; ')}`);
    if (report.storeChanges.length) problems.push(`${report.storeChanges.length} objects changed`);
    assert.ok(report.healthz.polls > 0, 'the /healthz poller never ran');
    assert.deepEqual(problems, [], `seed ${seed}: ${problems.join('; ')}\n${summary}`);
  } finally {
    await server.stop();
  }
});
