#!/usr/bin/env bash
# Print the Debian mirror URL this machine's apt is configured with, for use
# by debootstrap.  The host name is never hard-coded in the repo: it is read
# at run time from the apt sources, in either format:
#   one-line  (/etc/apt/sources.list, sources.list.d/*.list):
#       deb [opt=val ...] URL SUITE COMPONENT...
#   deb822    (sources.list.d/*.sources):
#       Types: deb / URIs: URL... / Suites: SUITE... / Components: ... / Enabled: no
# A source whose suite is exactly the codename (e.g. "bookworm", not
# "bookworm-security") and that carries the "main" component wins; otherwise
# the first deb source with the codename among its suites. Only http(s)://
# and file:// URIs are considered (what debootstrap can use).
#
# Usage: source it and call `labkube_apt_mirror [CODENAME]`, or run it:
#   bash scripts/lib/apt-mirror.sh [CODENAME]
# LABKUBE_APT_MIRROR overrides the lookup; LABKUBE_APT_SOURCES_DIR (default
# /etc/apt) lets tests point it at fake sources.

labkube_apt_mirror() {
  local codename="${1:-}"
  if [ -n "${LABKUBE_APT_MIRROR:-}" ]; then
    printf '%s\n' "${LABKUBE_APT_MIRROR%/}"
    return 0
  fi
  if [ -z "$codename" ]; then
    codename="$( . /etc/os-release 2>/dev/null; printf '%s' "${VERSION_CODENAME:-bookworm}")"
  fi
  local dir="${LABKUBE_APT_SOURCES_DIR:-/etc/apt}"
  local files=()
  [ -f "$dir/sources.list" ] && files+=("$dir/sources.list")
  local f
  for f in "$dir"/sources.list.d/*.list "$dir"/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 1

  # Emit "RANK URL" candidates; rank 0 = exact suite + main, 1 = exact suite.
  local out
  out="$(
    for f in "${files[@]}"; do
      case "$f" in
        *.sources) awk -v code="$codename" '
            function flush() {
              if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                exact = 0; nm = split(suites, s, " ")
                for (i = 1; i <= nm; i++) if (s[i] == code) exact = 1
                main = (" " comps " " ~ / main /)
                if (exact) {
                  nu = split(uris, u, " ")
                  for (i = 1; i <= nu; i++) print (main ? 0 : 1), u[i]
                }
              }
              types = uris = suites = comps = ""; enabled = "yes"; last = ""
            }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { # continuation line of a multi-line field
              v = $0; sub(/^[ \t]+/, "", v)
              if (last == "uris") uris = uris " " v
              else if (last == "suites") suites = suites " " v
              else if (last == "comps") comps = comps " " v
              next }
            {
              key = tolower($0); sub(/:.*/, "", key)
              val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
              last = ""
              if (key == "types") types = val
              else if (key == "uris") { uris = val; last = "uris" }
              else if (key == "suites") { suites = val; last = "suites" }
              else if (key == "components") { comps = val; last = "comps" }
              else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f" ;;
        *) awk -v code="$codename" '
            { sub(/#.*/, "") }
            $1 == "deb" {
              i = 2
              if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
              url = $i; suite = $(i + 1)
              if (suite != code) next
              main = 0
              for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
              print (main ? 0 : 1), url
            }' "$f" ;;
      esac
    done | awk '$2 ~ /^(https?|file):\/\// ' | sort -s -k1,1n | head -n1
  )"
  [ -n "$out" ] || return 1
  out="${out#* }"
  printf '%s\n' "${out%/}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  labkube_apt_mirror "$@" || { echo "apt-mirror: no deb source for ${1:-this codename} in apt sources" >&2; exit 1; }
fi
