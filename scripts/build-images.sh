#!/usr/bin/env bash
# Build labkube's offline images without any container registry:
#   nginx:latest    Debian minbase rootfs (debootstrap) + nginx-light,
#                   CMD nginx -g 'daemon off;', logs to stdout/stderr.
#   busybox:latest  tiny rootfs: Debian's busybox-static + applet symlinks
#                   (/bin/sh, ls, sleep, wget, ...), CMD sh.
#   labkube/pause:latest  the pod sandbox (holds a pod's network namespace):
#                   busybox's rootfs, CMD a shell that sleeps and exits 0 at
#                   once on SIGTERM/SIGINT (PID 1 gets no default handlers).
# For each image, cheapest source first:
#   1. image present with this recipe's label  -> skip
#   2. rootfs tarball in the cache             -> docker import it
#   3. otherwise build the rootfs (debootstrap / apt-get download), tar it
#      into the cache, then docker import it.
# Every image is also saved with `docker save` to $CACHE/images/NAME.tar
# (airgap tarballs that agents `docker load`); NAME.id next to it records
# which image ID the tarball holds, so it is rewritten only when that changes.
# `docker import` records the daemon's architecture; it is checked against
# the host's (dpkg) architecture and written in the labkube.arch label.
#
# The Debian mirror is read from this machine's apt sources at run time
# (scripts/lib/apt-mirror.sh); no mirror host is written in the repo.
#
# Environment:
#   LABKUBE_CACHE        cache dir (default ${HOME}/.cache/labkube)
#   LABKUBE_SUITE        Debian suite (default: this host's codename, else bookworm)
#   LABKUBE_APT_MIRROR   mirror URL override
#   LABKUBE_FORCE=1      rebuild images even if present (reuses rootfs cache)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/apt-mirror.sh
. "$HERE/lib/apt-mirror.sh"

# shellcheck source=lib/rootfs-env.sh
. "$HERE/lib/rootfs-env.sh"
# Bump when a recipe below changes: the label and cache names carry it, so
# old images and rootfs tarballs are not reused.
RECIPE=1

log() { printf 'build-images: %s\n' "$*" >&2; }
die() { printf 'build-images: ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "docker engine not reachable (run scripts/setup.sh)"

DEB_ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)"
case "$DEB_ARCH" in
  amd64|x86_64) GOARCH=amd64 ;;
  arm64|aarch64) GOARCH=arm64 ;;
  armhf|armel) GOARCH=arm ;;
  i386) GOARCH=386 ;;
  ppc64el) GOARCH=ppc64le ;;
  *) GOARCH="$DEB_ARCH" ;;
esac

mkdir -p "$CACHE/rootfs" "$CACHE/images" "$CACHE/work"
if command -v flock >/dev/null 2>&1; then
  exec 8>"$CACHE/.build.lock"
  flock -w 1800 8 || die "another build-images.sh holds $CACHE/.build.lock"
fi

WORKDIRS=()
cleanup() {
  local d m
  for d in "${WORKDIRS[@]:+${WORKDIRS[@]}}"; do
    [ -d "$d" ] || continue
    # debootstrap mounts proc/sys inside the target; never rm through them.
    awk -v d="$d/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT

APT_LOG="$CACHE/work/apt.log"
apt_quiet() { # apt-get with its chatter in $APT_LOG, shown only on failure
  if ! apt-get "$@" >>"$APT_LOG" 2>&1; then
    tail -n 15 "$APT_LOG" >&2
    die "apt-get $* failed (log: $APT_LOG)"
  fi
}
apt_ensure() { # apt_ensure CMD PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  log "installing $2 (apt-get)"
  apt_quiet update -qq
  apt_quiet install -y -qq --no-install-recommends "$2"
}

mirror() {
  labkube_apt_mirror "$SUITE" || die "no '$SUITE' deb source found in the apt sources"
}

# Tar a rootfs directory into the cache (atomically).
pack_rootfs() { # pack_rootfs DIR TARBALL
  local dir="$1" out="$2"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* 2>/dev/null || true
  tar -C "$dir" --numeric-owner --exclude='./proc/*' --exclude='./sys/*' \
      --exclude='./dev/*' -cf "$out.tmp" . || die "tar of $dir failed"
  mv -f "$out.tmp" "$out"
}

# --- recipes: each fills DIR with a root filesystem -------------------------

rootfs_nginx() { # DIR
  local dir="$1" m t0
  apt_ensure debootstrap debootstrap
  m="$(mirror)"
  t0=$SECONDS
  log "nginx: debootstrap --variant=minbase --include=nginx-light $SUITE (about 40 s)"
  # debootstrap fakes start-stop-daemon/policy-rc.d in the target while it
  # configures packages, so nginx's postinst does not start a daemon.
  if ! debootstrap --variant=minbase --include=nginx-light "$SUITE" "$dir" "$m" \
        >"$CACHE/work/debootstrap-nginx.log" 2>&1; then
    tail -n 20 "$CACHE/work/debootstrap-nginx.log" >&2
    die "debootstrap for nginx failed (log: $CACHE/work/debootstrap-nginx.log)"
  fi
  log "nginx: debootstrap took $((SECONDS - t0))s"
  # Logs to the container's stdout/stderr so `docker logs` shows them.
  mkdir -p "$dir/var/log/nginx"
  ln -sfn /dev/stdout "$dir/var/log/nginx/access.log"
  ln -sfn /dev/stderr "$dir/var/log/nginx/error.log"
  [ -x "$dir/usr/sbin/nginx" ] || die "nginx missing from the rootfs"
}

rootfs_busybox() { # DIR
  local dir="$1" tmp deb p
  tmp="$(mktemp -d "$CACHE/work/busybox-deb.XXXXXX")"; WORKDIRS+=("$tmp")
  log "busybox: fetching Debian's busybox-static"
  if ! (cd "$tmp" && apt-get download -qq busybox-static >>"$APT_LOG" 2>&1); then
    apt_quiet update -qq
    (cd "$tmp" && apt_quiet download -qq busybox-static)
  fi
  deb="$(ls "$tmp"/busybox-static_*.deb)"
  mkdir -p "$dir"
  dpkg-deb -x "$deb" "$dir"
  local bb="$dir/bin/busybox"
  [ -x "$bb" ] || bb="$dir/usr/bin/busybox"
  [ -x "$bb" ] || die "busybox binary not found in $deb"
  if [ "$bb" != "$dir/bin/busybox" ]; then mkdir -p "$dir/bin"; ln -sfn /usr/bin/busybox "$dir/bin/busybox"; fi
  # Applet links at their usual places (bin/sh, usr/bin/wget, sbin/ip ...).
  # The binary is static, so running it on the host is fine.
  for p in $("$bb" --list-full); do
    mkdir -p "$dir/$(dirname "$p")"
    [ -e "$dir/$p" ] || [ -L "$dir/$p" ] || ln -s /bin/busybox "$dir/$p"
  done
  [ -L "$dir/bin/sh" ] || [ -e "$dir/bin/sh" ] || die "busybox has no sh applet"
  rm -rf "${dir:?}/usr/share" "${dir:?}/linuxrc"
  mkdir -p "$dir"/{etc,root,tmp,var/tmp,proc,sys,dev,run,home}
  chmod 1777 "$dir/tmp" "$dir/var/tmp"; chmod 700 "$dir/root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  : >"$dir/etc/hosts"; : >"$dir/etc/resolv.conf"
}

rootfs_labkube-pause() { # DIR: the same tiny rootfs as busybox (from its cached tarball)
  local dir="$1" bb="$CACHE/rootfs/busybox-$SUITE-$DEB_ARCH-r$RECIPE.tar"
  if [ -s "$bb" ]; then
    mkdir -p "$dir"
    tar -C "$dir" -xf "$bb" || die "unpacking $bb failed"
  else
    rootfs_busybox "$dir"
  fi
}

# --- image pipeline ----------------------------------------------------------

label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

ensure_image() { # NAME CMD_JSON [extra docker import -c ...]
  local name="$1" cmd="$2"; shift 2
  # A repository path (labkube/pause) names files and recipes with '-' (labkube-pause).
  local file="${name//\//-}"
  local ref="$name:latest" want="$file-r$RECIPE-$SUITE"
  local tarball="$CACHE/rootfs/$file-$SUITE-$DEB_ARCH-r$RECIPE.tar"
  local imported=0

  if [ "${LABKUBE_FORCE:-0}" != 1 ] && [ "$(label "$ref" labkube.recipe)" = "$want" ]; then
    log "$ref present"
  else
    if [ ! -s "$tarball" ]; then
      local dir; dir="$(mktemp -d "$CACHE/work/$file-rootfs.XXXXXX")"; WORKDIRS+=("$dir")
      "rootfs_$file" "$dir"
      pack_rootfs "$dir" "$tarball"
      cleanup; WORKDIRS=()
      log "$name: rootfs cached in $tarball ($(du -h "$tarball" | cut -f1))"
    else
      log "$name: re-using cached rootfs $tarball"
    fi
    log "$name: docker import -> $ref"
    local changes=(-c "CMD $cmd"
      -c "LABEL labkube.recipe=$want labkube.arch=$GOARCH labkube.suite=$SUITE labkube.source=debian-$file")
    local c; for c in "$@"; do changes+=(-c "$c"); done
    docker import "${changes[@]}" "$tarball" "$ref" >/dev/null || die "docker import of $tarball failed"
    imported=1
  fi

  local arch; arch="$(docker image inspect -f '{{.Architecture}}' "$ref")"
  [ "$arch" = "$GOARCH" ] || die "$ref has architecture '$arch', host is '$GOARCH'"

  local id saved="$CACHE/images/$file.tar"
  id="$(docker image inspect -f '{{.Id}}' "$ref")"
  if [ "$imported" = 1 ] || [ ! -s "$saved" ] || [ "$(cat "$CACHE/images/$file.id" 2>/dev/null)" != "$id" ]; then
    log "$name: docker save -> $saved"
    docker save -o "$saved.tmp" "$ref" || die "docker save $ref failed"
    chmod 644 "$saved.tmp"; mv -f "$saved.tmp" "$saved"
    printf '%s\n' "$id" >"$CACHE/images/$file.id"
  fi
}

# (docker import in Debian's 20.10 daemon rejects STOPSIGNAL; nginx handles
# SIGTERM as a fast shutdown, which is fine.)
ensure_image nginx '["nginx","-g","daemon off;"]' 'EXPOSE 80'
ensure_image busybox '["sh"]'
# `sleep & wait` lets the shell run its trap the moment the signal arrives; a
# foreground sleep would hold it until the sleep ends.
ensure_image labkube/pause '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
log "images ready: nginx:latest busybox:latest labkube/pause:latest ($GOARCH; airgap tarballs in $CACHE/images)"
