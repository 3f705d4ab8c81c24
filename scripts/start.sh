#!/usr/bin/env bash
# `npm start`: the control plane on the defaults (./.labkube, 0.0.0.0:6443), installing what a
# fresh machine lacks first.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsx ] || npm ci --no-audit --no-fund
bash scripts/setup.sh
exec node bin/labkube.mjs server "$@"
