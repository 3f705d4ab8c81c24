#!/usr/bin/env bash
# `npm run test:unit`: the tests that need no Docker engine and no lab, for a quick run while
# working (target: under 2 minutes on a quiet 2-core machine). `npm test` still runs everything.
#
# Left out:
#  - test/e2e/*: the Docker-in-Docker lab;
#  - *.integration.test.ts: Docker, by convention (name a new Docker test so);
#  - any other file that starts real agents (test/agent/support.ts's startAgentProcess and
#    container helpers go through the engine) or runs `docker` itself: found by reading the file,
#    so a Docker test written without the convention is still left out (the list is printed);
#  - the browser tests (test/ui files that drive Chromium through ./browser.ts);
#  - two stress tests that need no Docker but are not unit tests either, and alone take over a
#    minute each on a loaded machine (fuzz: 5200 generated bad requests against a spawned server;
#    crash: three rounds of SIGKILL during a stream of writes).
# Everything else runs against in-process servers, hollow nodes and the fake runtime.
# Arguments go to the test runner: `npm run test:unit -- --test-name-pattern=watch`.
set -euo pipefail
cd "$(dirname "$0")/.."
stress=(test/apiserver/fuzz.test.ts test/apiserver/crash.test.ts)
uses_docker() {
  grep -qE "from '\./browser\.ts'|startAgentProcess|containersOf\(|removeContainersOf\(|DockerRuntime|(execFile|execFileSync|spawn|spawnSync|run)\('docker'|scripts/lab\.sh|setup\.sh" "$1"
}
selected=()
left_out=()
while IFS= read -r f; do
  if [[ " ${stress[*]} " == *" $f "* ]] || uses_docker "$f"; then left_out+=("$f"); else selected+=("$f"); fi
done < <(find test -name '*.test.ts' -not -path 'test/e2e/*' -not -name '*.integration.test.ts' | sort)
echo "test:unit: ${#selected[@]} files; left out (Docker, browser or stress): ${left_out[*]}" >&2
# Two files at once fits two cores; each file starts its own servers on free ports and its own
# temporary directories, so files never share state.
exec npx --no-install tsx --test --test-force-exit --test-concurrency="${LABKUBE_TEST_CONCURRENCY:-2}" "${selected[@]}" "$@"
