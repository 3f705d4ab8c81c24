#!/usr/bin/env bash
# Build the simulated board image `labkube-board:latest` offline:
#   a Debian rootfs made with debootstrap from the mirror this machine's apt already uses
#   (scripts/lib/apt-mirror.sh; no host name in the repo), holding what a freshly imaged
#   Raspberry Pi OS / Debian board has after `apt install docker.io nodejs python3`:
#   docker.io (+ iptables), nodejs (Debian's, Node 18 on bookworm), python3 (for ansible),
#   procps and iproute2. The rootfs tarball is cached in $LABKUBE_CACHE/rootfs, so only the
#   first run pays for debootstrap (~1-2 min); later runs `docker import` it (or find the image).
# The board's "boot" script (scripts/lab/board-init.sh) is layered on top with `docker build`.
#
# Environment: LABKUBE_CACHE (default ~/.cache/labkube), LABKUBE_SUITE, LABKUBE_APT_MIRROR,
# LABKUBE_FORCE=1 (re-import even if the image exists).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
exec </dev/null
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/apt-mirror.sh
. "$HERE/../lib/apt-mirror.sh"

# shellcheck source=../lib/rootfs-env.sh
. "$HERE/../lib/rootfs-env.sh"
ARCH="$(dpkg --print-architecture)"
# Bump when the package list changes: it names the cached rootfs and labels the image.
RECIPE=1
PACKAGES=docker.io,iptables,procps,iproute2,nodejs,python3,ca-certificates
IMAGE=labkube-board:latest
WANT="board-r$RECIPE-$SUITE-$(sha256sum "$HERE/board-init.sh" | cut -c1-12)"

log() { printf 'board-image: %s\n' "$*" >&2; }
die() { printf 'board-image: ERROR: %s\n' "$*" >&2; exit 1; }

if [ "${LABKUBE_FORCE:-0}" != 1 ] && \
   [ "$(docker image inspect -f '{{index .Config.Labels "labkube.recipe"}}' "$IMAGE" 2>/dev/null)" = "$WANT" ]; then
  log "$IMAGE present"; exit 0
fi

mkdir -p "$CACHE/rootfs" "$CACHE/work"
exec 7>"$CACHE/.board.lock"; flock -w 1200 7 || die "another board-image.sh holds the lock"
TARBALL="$CACHE/rootfs/board-$SUITE-$ARCH-r$RECIPE.tar"
WORK=""
cleanup() {
  [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
  awk -v d="$WORK/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

if [ ! -s "$TARBALL" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap; } >/dev/null
  MIRROR="$(labkube_apt_mirror "$SUITE")" || die "no '$SUITE' deb source in this machine's apt sources"
  WORK="$(mktemp -d "$CACHE/work/board-rootfs.XXXXXX")"
  log "debootstrap --variant=minbase --include=$PACKAGES $SUITE (first run only, 1-2 min)"
  t0=$SECONDS
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$WORK" "$MIRROR" >"$CACHE/work/debootstrap-board.log" 2>&1; then
    tail -n 20 "$CACHE/work/debootstrap-board.log" >&2
    die "debootstrap failed (log: $CACHE/work/debootstrap-board.log)"
  fi
  log "debootstrap took $((SECONDS - t0))s"
  # The board talks to the outside world only through the lab network; no apt lists, no cache.
  rm -rf "$WORK"/var/cache/apt/archives/*.deb "$WORK"/var/lib/apt/lists/*
  # Nothing starts services while packages are configured later (a policy-rc.d like Debian's
  # container images have).
  printf '#!/bin/sh\nexit 101\n' >"$WORK/usr/sbin/policy-rc.d"; chmod 755 "$WORK/usr/sbin/policy-rc.d"
  tar -C "$WORK" --numeric-owner --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -cf "$TARBALL.tmp" .
  mv -f "$TARBALL.tmp" "$TARBALL"
  cleanup; WORK=""
  log "rootfs cached in $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

log "docker import $TARBALL"
docker import "$TARBALL" labkube-board-rootfs:r$RECIPE >/dev/null
CTX="$(mktemp -d)"; trap 'rm -rf "$CTX"; cleanup' EXIT
cp "$HERE/board-init.sh" "$CTX/board-init"
cat >"$CTX/Dockerfile" <<DOCKERFILE
FROM labkube-board-rootfs:r$RECIPE
COPY board-init /usr/local/sbin/board-init
RUN chmod 755 /usr/local/sbin/board-init
LABEL labkube.recipe=$WANT
VOLUME /var/lib/docker
CMD ["/usr/local/sbin/board-init"]
DOCKERFILE
# The legacy builder: enough for two lines, and it needs nothing but the engine.
DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" "$CTX" >"$CACHE/work/board-build.log" 2>&1 ||
  { tail -n 20 "$CACHE/work/board-build.log" >&2; die "docker build of $IMAGE failed"; }
log "$IMAGE ready"
