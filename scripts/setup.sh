#!/usr/bin/env bash
# labkube dev/CI setup: make sure a Docker engine answers, then build the
# offline images (scripts/build-images.sh).
#
# Idempotent and non-interactive; when the engine is up and the images exist
# it finishes in well under 2 s. Steps, each skipped when already done:
#   1. `docker info` answers               -> engine is fine, go to 4.
#   2. dockerd missing                     -> apt-get update; apt-get install
#                                             docker.io iptables (Debian's).
#   3. start dockerd in the background (setsid, log in $LABKUBE_DOCKERD_LOG),
#      wait up to $LABKUBE_DOCKERD_WAIT s (default 30) for `docker info`.
#   4. scripts/build-images.sh             -> nginx:latest, busybox:latest.
#
# Client vs daemon (checked on Debian bookworm): /usr/local/bin/docker is a
# newer client (28.x, API 1.50) than Debian's daemon (docker.io 20.10.x,
# API 1.41). The client negotiates the API version down on its own, so the
# pair works without DOCKER_API_VERSION; as a safety net this script still
# sets DOCKER_API_VERSION to the daemon's API version if the client ever
# reports "client version ... is too new". dockerode (used by the agent)
# talks to /var/run/docker.sock directly and negotiates the same way.
#
# Engine quirks on these VMs: no systemd, cgroup v1 (hybrid) -> dockerd uses
# the cgroupfs driver; root fs is ext4 -> overlay2 storage driver; Debian's
# iptables (nft backend) works on these kernels. If the kernel lacks nf_tables, iptables is switched to the legacy backend; if
# iptables does not work at all, dockerd runs with --iptables=false
# (publishing on 127.0.0.1 then goes through docker-proxy).
#
# Environment:
#   LABKUBE_DOCKERD_LOG   dockerd log file (default /var/log/labkube-dockerd.log)
#   LABKUBE_DOCKERD_WAIT  seconds to wait for the engine (default 30)
#   LABKUBE_DOCKERD_ARGS  extra dockerd arguments
#   LABKUBE_SKIP_IMAGES=1 do not run build-images.sh
#   LABKUBE_CACHE         image cache dir (see build-images.sh)
set -euo pipefail
export CI="${CI:-true}" DEBIAN_FRONTEND=noninteractive
exec </dev/null

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DOCKERD_LOG="${LABKUBE_DOCKERD_LOG:-/var/log/labkube-dockerd.log}"
DOCKERD_WAIT="${LABKUBE_DOCKERD_WAIT:-30}"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else die "need root for: $*"
  fi
}

# Serialise concurrent runs (e.g. parallel test files) so only one of them
# installs packages or starts dockerd.
LOCK=/tmp/labkube-setup.lock
if command -v flock >/dev/null 2>&1; then
  exec 9>"$LOCK"
  flock -w 900 9 || die "another setup.sh holds $LOCK for too long"
fi

engine_ok() { docker info >/dev/null 2>&1; }

# If the client is newer than the daemon supports, pin the API version.
fix_api_version() {
  local err ver
  err="$(docker version 2>&1 >/dev/null || true)"
  case "$err" in
    *"is too new"*)
      ver="$(printf '%s' "$err" | grep -o 'Maximum supported API version is [0-9.]*' | grep -o '[0-9.]*$' || true)"
      if [ -n "$ver" ]; then
        export DOCKER_API_VERSION="$ver"
        log "client API newer than daemon: using DOCKER_API_VERSION=$ver"
      fi ;;
  esac
}

ensure_packages() {
  local need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
  [ "${#need[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "dockerd not found and no apt-get to install it"
  log "installing ${need[*]} (apt-get)"
  local alog=/var/log/labkube-apt.log
  if ! { as_root apt-get update -qq && \
         as_root apt-get install -y -qq --no-install-recommends "${need[@]}"; } >>"$alog" 2>&1; then
    tail -n 15 "$alog" >&2
    die "apt-get install ${need[*]} failed (log: $alog)"
  fi
  hash -r
}

# Returns 0 if dockerd can use iptables (switching to the legacy backend if
# the nft one does not work), 1 otherwise.
iptables_usable() {
  local ipt; ipt="$(command -v iptables || echo /usr/sbin/iptables)"
  [ -x "$ipt" ] || return 1
  as_root "$ipt" -t nat -L -n >/dev/null 2>&1 && return 0
  if [ -x /usr/sbin/iptables-legacy ] && /usr/sbin/iptables-legacy -t nat -L -n >/dev/null 2>&1; then
    log "iptables (nft) does not work here: switching to iptables-legacy"
    as_root update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null 2>&1 || true
    as_root update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
    as_root "$ipt" -t nat -L -n >/dev/null 2>&1 && return 0
  fi
  return 1
}

dockerd_running() {
  local pid
  [ -s /var/run/docker.pid ] || return 1
  pid="$(cat /var/run/docker.pid 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start_dockerd() {
  if dockerd_running; then
    log "dockerd already running (pid $(cat /var/run/docker.pid)); waiting for it"
    return 0
  fi
  local args=()
  if ! iptables_usable; then
    log "iptables unusable: starting dockerd with --iptables=false"
    args+=(--iptables=false --ip-masq=false)
  fi
  # shellcheck disable=SC2206
  [ -n "${LABKUBE_DOCKERD_ARGS:-}" ] && args+=(${LABKUBE_DOCKERD_ARGS})
  as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
  log "starting dockerd (log: $DOCKERD_LOG)"
  printf '\n==== %s labkube setup.sh: dockerd %s\n' "$(date -Is)" "${args[*]:-}" \
    | as_root tee -a "$DOCKERD_LOG" >/dev/null
  # setsid: own session, so the daemon outlives this script and its job's
  # process group.
  # 9>&-: the daemon must not inherit (and keep) the setup lock.
  as_root setsid dockerd "${args[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
  disown || true
}

wait_engine() {
  local i=0 max=$((DOCKERD_WAIT * 5))
  while [ "$i" -lt "$max" ]; do
    engine_ok && return 0
    sleep 0.2; i=$((i + 1))
  done
  return 1
}

# ---------------------------------------------------------------------------
command -v docker >/dev/null 2>&1 || PATH="$PATH:/usr/bin:/usr/sbin"

if engine_ok; then
  log "docker engine answers"
else
  fix_api_version
  if ! engine_ok; then
    ensure_packages
    command -v docker >/dev/null 2>&1 || die "no docker client found after install"
    start_dockerd
    if ! wait_engine; then
      fix_api_version
      if ! engine_ok; then
        tail -n 5 "$DOCKERD_LOG" 2>/dev/null | sed 's/^/setup:   dockerd: /' >&2 || true
        die "docker engine did not answer within ${DOCKERD_WAIT}s (dockerd log: $DOCKERD_LOG)"
      fi
    fi
    log "docker engine up ($(docker version -f 'client {{.Client.Version}}, server {{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null || echo '?'))"
  fi
fi

# The test clients besides kubectl: Debian's packaged Kubernetes Python client (its tests run
# /usr/bin/python3) and Debian's Chromium (the dashboard's browser tests drive it with
# playwright-core; no browser download works here). Installed once; skipped when present.
ensure_test_clients() {
  local need=()
  /usr/bin/python3 -c 'import kubernetes' >/dev/null 2>&1 || need+=(python3-kubernetes)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  [ "${#need[@]}" -eq 0 ] && return 0
  log "installing ${need[*]} (apt-get)"
  local alog=/var/log/labkube-apt.log
  if ! { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "${need[@]}"; } >>"$alog" 2>&1; then
    tail -n 15 "$alog" >&2
    die "apt-get install ${need[*]} failed (log: $alog)"
  fi
}
[ "${LABKUBE_SKIP_CLIENTS:-0}" = 1 ] || ensure_test_clients

if [ "${LABKUBE_SKIP_IMAGES:-0}" != 1 ]; then
  bash "$HERE/build-images.sh"
fi
log "done"
