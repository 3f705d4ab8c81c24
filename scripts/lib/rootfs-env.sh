# shellcheck shell=bash
# Where offline-built root filesystems are cached, and which Debian suite they are built from
# (this host's own, so the mirror in its apt sources has it). Sourced by build-images.sh and
# lab/board-image.sh.
CACHE="${LABKUBE_CACHE:-${HOME:-/root}/.cache/labkube}"
SUITE="${LABKUBE_SUITE:-$( . /etc/os-release 2>/dev/null; printf '%s' "${VERSION_CODENAME:-}")}"
SUITE="${SUITE:-bookworm}"
