#!/usr/bin/env bash
# `npm start`: the control plane on the defaults (./.labkube, 0.0.0.0:6443) and one node agent
# next to it, installing what a fresh machine lacks first. Extra arguments go to the server.
# Both run as they ship to a lab: the bundles from `npm run bundle`, with plain node.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsx ] || npm ci --no-audit --no-fund
bash scripts/setup.sh
node scripts/bundle.mjs
# A small young generation keeps the server's memory low at no measurable cost in throughput
# (scripts/bench/api.ts measures it with the same flag).
node --max-semi-space-size=2 dist/labkube.mjs server "$@" &
server=$!
agent=
trap 'kill $server $agent 2>/dev/null; wait' EXIT INT TERM
# The server writes its join token and CA on first start; the agent retries its join until the
# server answers, so this wait only avoids a first failed attempt in the log.
for _ in $(seq 1 100); do [ -s .labkube/join-token ] && [ -s .labkube/ca.crt ] && break; sleep 0.1; done
node dist/labkube-agent.mjs --server https://127.0.0.1:6443 --token-file .labkube/join-token --data-dir .labkube/agent &
agent=$!
wait -n $server $agent
