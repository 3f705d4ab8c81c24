#!/usr/bin/env bash
# `npm test`: everything. Installs what a fresh machine lacks (npm packages, a Docker engine and
# the offline images), typechecks, then runs every test file with node's test runner via tsx.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsx ] || npm ci --no-audit --no-fund
bash scripts/setup.sh
echo "typecheck: tsc --noEmit" >&2
npx --no-install tsc --noEmit -p .
# Files whose figures are wall-clock deadlines (an agent restart must beat a 6 s grace period; crash
# backoff delays must double; a
# dashboard card must change within 2 s) run with the labs, one file at a time, on a quieter machine.
timed=(test/agent/restart.test.ts test/agent/agent.integration.test.ts test/ui/dashboard.test.ts)
mapfile -t unit < <(find test -name '*.test.ts' -not -path 'test/e2e/*' | sort | grep -vxF -f <(printf '%s\n' "${timed[@]}"))
mapfile -t e2e < <(find test/e2e -name '*.test.ts' | sort)
# A file whose tests are done is ended even if a handle stays open (a child's stdio socket that
# never closed once kept a finished file, and so the whole run, waiting for an hour); a test that
# hangs fails after 20 minutes, and a batch after 45, instead of running into CI's 90.
run() { timeout --kill-after=30s 45m npx --no-install tsx --test --test-force-exit --test-timeout=1200000 --test-concurrency="$1" "${@:2}"; }
# One file at a time would be slow; two at once fits this 2-core machine. Each test file starts
# its own servers on free ports and its own temporary directories, so files never share state.
# The simulated labs are the longest files and the heaviest (three Docker-in-Docker boards
# each): the first lab runs beside the quick files, the others after them, one at a time, so two
# labs never share the machine's two cores (their failover figures would measure the contention).
status=0
run "${LABKUBE_TEST_CONCURRENCY:-2}" "${e2e[0]}" "${unit[@]}" || status=$?
run 1 "${timed[@]}" "${e2e[@]:1}" || status=$?
exit "$status"
