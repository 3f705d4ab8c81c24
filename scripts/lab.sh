#!/usr/bin/env bash
# A simulated hardware lab on this machine: N "boards" (containers, each with its own hostname,
# IP on a lab bridge network and its own Docker engine inside) provisioned with the real
# ansible/site.yml, and labkube's control plane on the host, reachable from the boards at the
# bridge's gateway address.
#
#   scripts/lab.sh up N               build/reuse the board image, start N boards and the control
#                                     plane, run ansible-playbook site.yml against the boards
#   scripts/lab.sh status             boards, their state and IP, and the cluster's nodes
#   scripts/lab.sh unplug NODE        power loss: the board's container is killed
#   scripts/lab.sh unplug NODE --cable  pulled Ethernet cable: the board keeps running, off the network
#   scripts/lab.sh replug NODE        undo either (power: the board boots again; cable: the
#                                     board's interface comes back as eth1)
#   scripts/lab.sh provision          run site.yml again (a second run changes nothing)
#   scripts/lab.sh uninstall [BOARD]  run ansible/uninstall.yml: the agent stopped, its pods,
#                                     pod network, routes and iptables chains removed
#   scripts/lab.sh server-kill [SIG]  kill the control plane (default SIGKILL)
#   scripts/lab.sh server-start       start it again on the same data
#   scripts/lab.sh down               remove boards, volumes, network, the control plane, state
#
# The lab network is one L2 segment (a bridge) that this machine forwards nothing out of: pod and
# service addresses never leave the machine, even from a board with no route for them yet.
#
# Only the inventory differs from a real lab: the boards are reached with ansible's
# community.docker.docker connection, and the join token and CA come from the host's control
# plane data directory (labkube_join_dir) instead of the control_plane role.
#
# Environment:
#   LABKUBE_LAB_NAME    prefix of containers, network and volumes (default labkube-lab)
#   LABKUBE_LAB_DIR     state: inventory, server data, logs (default /tmp/$LABKUBE_LAB_NAME)
#   LABKUBE_LAB_SUBNET  the lab network, a /24 (default 172.29.77.0/24); boards are .11, .12, ...
#   LABKUBE_LAB_PORT    the API's port on the host (default 17443)
#   LABKUBE_LAB_SERVER_ARGS  extra `labkube server` flags, e.g. "--node-grace-period 20"
#   LABKUBE_LAB_AGENT_ARGS   extra agent flags, words split on spaces (ansible's
#                       labkube_agent_extra_args, written to the inventory's group_vars/workers.yml)
#   LABKUBE_LAB_BUNDLE=1  `up` bundles dist/ first (node scripts/bundle.mjs), under the lock that
#                       lets one lab come up at a time
#   LABKUBE_CACHE       image cache (default ~/.cache/labkube)
set -euo pipefail
exec </dev/null
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
LAB="${LABKUBE_LAB_NAME:-labkube-lab}"
DIR="${LABKUBE_LAB_DIR:-/tmp/$LAB}"
SUBNET="${LABKUBE_LAB_SUBNET:-172.29.77.0/24}"
PREFIX="${SUBNET%.*}"          # 172.29.77
GATEWAY="$PREFIX.1"
PORT="${LABKUBE_LAB_PORT:-17443}"
NET="$LAB-net"
IMAGE=labkube-board:latest

log() { printf 'lab: %s\n' "$*" >&2; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit 1; }

board_ip() { printf '%s.%d\n' "$PREFIX" "$((10 + ${1#board}))"; }
container() { printf '%s-%s\n' "$LAB" "$1"; }
boards() { docker ps -a --filter "label=labkube.lab=$LAB" --format '{{.Label "labkube.board"}}' | sort -V; }
check_board() { [[ "$1" =~ ^board[0-9]+$ ]] && docker inspect "$(container "$1")" >/dev/null 2>&1 || die "no board '$1' in lab $LAB"; }

ensure_ansible() {
  command -v ansible-playbook >/dev/null 2>&1 && return 0
  log "installing ansible (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible; } \
    >>"$DIR/apt.log" 2>&1 || { tail -n 15 "$DIR/apt.log" >&2; die "apt-get install ansible failed"; }
  [ -d /usr/lib/python3/dist-packages/ansible_collections/community/docker ] ||
    die "ansible has no community.docker collection (ansible-galaxy collection install community.docker)"
}

# The lab network is one switch whose only other port is this machine. The boards' default route
# points here (as a real lab's points at its router), so a board sending to an address with no
# route of its own (a pod or service address before the agent has set its routes and rules, say)
# would have this machine forward it to the world. That must never happen: this machine forwards
# nothing out of the lab bridge (REJECT, so the board sees "unreachable" at once), while traffic
# inside the bridge, and to this machine itself (the control plane), passes.
lab_bridge() { local id; id="$(docker network inspect -f '{{.Id}}' "$NET" 2>/dev/null)" && printf 'br-%s\n' "${id:0:12}"; }
seal_rule() { printf '%s\n' DOCKER-USER -i "$1" ! -o "$1" -j REJECT --reject-with icmp-net-unreachable; }
seal_network() {
  local br; br="$(lab_bridge)" || die "no network $NET"
  # shellcheck disable=SC2046
  iptables -C $(seal_rule "$br") 2>/dev/null || iptables -I $(seal_rule "$br") || die "cannot add the iptables rule that keeps lab traffic in $br"
}
unseal_network() {
  local br i; br="$(lab_bridge)" || return 0
  # shellcheck disable=SC2046
  for i in 1 2 3 4 5; do iptables -D $(seal_rule "$br") 2>/dev/null || break; done
}

server_pid() { local p; p="$(cat "$DIR/server.pid" 2>/dev/null)" && kill -0 "$p" 2>/dev/null && printf '%s\n' "$p"; }

server_start() {
  [ -n "$(server_pid || true)" ] && { log "control plane already running (pid $(server_pid))"; return 0; }
  [ -s "$ROOT/dist/labkube.mjs" ] && [ -s "$ROOT/dist/labkube-agent.mjs" ] || (cd "$ROOT" && node scripts/bundle.mjs)
  mkdir -p "$DIR/server"
  # shellcheck disable=SC2086
  setsid node "$ROOT/dist/labkube.mjs" server --data-dir "$DIR/server" --listen "0.0.0.0:$PORT" \
    --tls-san "$GATEWAY" ${LABKUBE_LAB_SERVER_ARGS:-} >>"$DIR/server.log" 2>&1 </dev/null 6>&- &
  echo $! >"$DIR/server.pid"
  local i
  for i in $(seq 1 150); do
    grep -q 'control plane listening' "$DIR/server.log" 2>/dev/null && [ -s "$DIR/server/join-token" ] && break
    kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || { tail -n 20 "$DIR/server.log" >&2; die "control plane exited"; }
    sleep 0.2
  done
  log "control plane: https://$GATEWAY:$PORT (pid $(cat "$DIR/server.pid"), kubeconfig $DIR/server/kubeconfig)"
}

server_kill() { # SIGNAL
  local p; p="$(server_pid || true)"
  [ -n "$p" ] || return 0
  kill "-${1:-KILL}" "$p" 2>/dev/null || true
  local i; for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  printf '==== lab.sh: killed with SIG%s\n' "${1:-KILL}" >>"$DIR/server.log"
  # server_start waits for this line: a restart must wait for its own, not find the old one.
  sed -i 's/control plane listening/control plane was listening/' "$DIR/server.log"
}

write_inventory() {
  local b
  # Inventory group variables win over the playbook's group_vars/all.yml, as they would in a real
  # lab's inventory folder.
  mkdir -p "$DIR/group_vars"
  # shellcheck disable=SC2086
  printf '# Simulated lab %s (scripts/lab.sh, LABKUBE_LAB_AGENT_ARGS).\nlabkube_agent_extra_args: %s\n' "$LAB" \
    "$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' ${LABKUBE_LAB_AGENT_ARGS:-})" >"$DIR/group_vars/workers.yml"
  {
    echo "# Simulated lab $LAB (scripts/lab.sh). Only this file differs from a real lab's inventory."
    echo "[control_plane]"
    echo "# none: the control plane runs on the host, started by scripts/lab.sh"
    echo
    echo "[workers]"
    for b in $(boards); do
      # Host variables: they win over ansible/group_vars/all.yml (group variables written in an
      # inventory file do not).
      echo "$b ansible_connection=community.docker.docker ansible_host=$(container "$b") ansible_user=root" \
        "ansible_python_interpreter=/usr/bin/python3 labkube_server_url=https://$GATEWAY:$PORT labkube_join_dir=$DIR/server"
    done
  } >"$DIR/inventory.ini"
}

provision() {
  ensure_ansible
  write_inventory
  log "ansible-playbook site.yml ($(boards | wc -l) boards)"
  local t0=$SECONDS rc=0
  ANSIBLE_CONFIG="$ROOT/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
    timeout 900 ansible-playbook -i "$DIR/inventory.ini" "$ROOT/ansible/site.yml" >"$DIR/ansible.log" 2>&1 || rc=$?
  sed -n '/PLAY RECAP/,$p' "$DIR/ansible.log"
  [ "$rc" -eq 0 ] || { tail -n 40 "$DIR/ansible.log" >&2; die "ansible-playbook failed (log: $DIR/ansible.log)"; }
  log "provisioned in $((SECONDS - t0))s (log: $DIR/ansible.log)"
}

cmd_uninstall() { # [BOARD]: ansible/uninstall.yml on one board (or all)
  ensure_ansible
  write_inventory
  local limit=(); [ -n "${1:-}" ] && { check_board "$1"; limit=(--limit "$1"); }
  log "ansible-playbook uninstall.yml ${1:-(every board)}"
  local rc=0
  ANSIBLE_CONFIG="$ROOT/ansible/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
    timeout 300 ansible-playbook -i "$DIR/inventory.ini" "${limit[@]}" "$ROOT/ansible/uninstall.yml" >"$DIR/ansible-uninstall.log" 2>&1 || rc=$?
  sed -n '/PLAY RECAP/,$p' "$DIR/ansible-uninstall.log"
  [ "$rc" -eq 0 ] || { tail -n 40 "$DIR/ansible-uninstall.log" >&2; die "ansible-playbook uninstall.yml failed (log: $DIR/ansible-uninstall.log)"; }
}

start_board() { # board1
  local b="$1" c; c="$(container "$1")"
  docker volume create "$c-docker" >/dev/null
  # The recipe for Docker-in-Docker on this engine (cgroup v1, cgroupfs): every capability but
  # SYS_RESOURCE, no seccomp/apparmor masks, all devices, the host's cgroup tree, a tmpfs /run
  # (fresh at every "boot") and a volume for the inner /var/lib/docker (overlay2 on a volume,
  # not overlay-on-overlay). --init: tini as PID 1 reaps the agent's and dockerd's children.
  docker run -d --name "$c" --hostname "$b" --init \
    --label "labkube.lab=$LAB" --label "labkube.board=$b" \
    --network "$NET" --ip "$(board_ip "$b")" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp \
    -v "$c-docker:/var/lib/docker" "$IMAGE" >/dev/null
}

wait_engines() {
  local b i
  for b in $(boards); do
    for i in $(seq 1 150); do
      docker exec "$(container "$b")" docker info >/dev/null 2>&1 && break
      [ "$i" -eq 150 ] && die "$b: its Docker engine did not start (docker exec $(container "$b") cat /var/log/dockerd.log)"
      sleep 0.2
    done
  done
}

cmd_up() {
  local n="${1:-3}" b i
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 20 ] || die "up N: N from 1 to 20"
  mkdir -p "$DIR"
  # One lab comes up at a time: booting boards, loading images into their engines and running
  # ansible is the heaviest part of a lab, and two labs (two e2e test files run at once) doing it
  # together on a 2-core machine each take twice as long and time out more easily.
  # (The control plane started below must not inherit the lock: server_start closes fd 6.)
  exec 6>"/tmp/labkube-lab-up.lock"
  flock -w 1200 6 || die "another lab held /tmp/labkube-lab-up.lock for 20 minutes"
  # Bundling under the same lock: another lab's ansible run never copies a half-written bundle.
  if [ "${LABKUBE_LAB_BUNDLE:-0}" = 1 ]; then (cd "$ROOT" && node scripts/bundle.mjs) || die "npm run bundle failed"; fi
  LABKUBE_SKIP_IMAGES=0 bash "$ROOT/scripts/setup.sh" >/dev/null 2>>"$DIR/setup.log" || { tail "$DIR/setup.log" >&2; die "setup.sh failed"; }
  bash "$HERE/lab/board-image.sh" 2>>"$DIR/board-image.log" || { tail "$DIR/board-image.log" >&2; die "board image failed"; }
  docker network inspect "$NET" >/dev/null 2>&1 ||
    docker network create --driver bridge --subnet "$SUBNET" --gateway "$GATEWAY" --label "labkube.lab=$LAB" "$NET" >/dev/null
  seal_network
  server_start
  for i in $(seq 1 "$n"); do
    b="board$i"
    docker inspect "$(container "$b")" >/dev/null 2>&1 || start_board "$b"
  done
  wait_engines
  provision
}

cmd_status() {
  local b c
  printf '%-8s %-10s %-15s %s\n' BOARD STATE IP PLUG
  for b in $(boards); do
    c="$(container "$b")"
    printf '%-8s %-10s %-15s %s\n' "$b" "$(docker inspect -f '{{.State.Status}}' "$c")" \
      "$(docker inspect -f "{{with index .NetworkSettings.Networks \"$NET\"}}{{.IPAddress}}{{end}}" "$c")" \
      "$(cat "$DIR/unplugged-$b" 2>/dev/null || echo in)"
  done
  echo "control plane: $( [ -n "$(server_pid || true)" ] && echo "running, pid $(server_pid), https://$GATEWAY:$PORT" || echo stopped)"
  [ -n "$(server_pid || true)" ] && node "$ROOT/bin/labctl.mjs" --kubeconfig "$DIR/server/kubeconfig" get nodes -o wide || true
}

cmd_unplug() { # NODE [--cable]
  local b="${1:-}" c; check_board "$b"; c="$(container "$b")"
  if [ "${2:-}" = --cable ]; then
    docker network disconnect "$NET" "$c"
    echo cable >"$DIR/unplugged-$b"
    log "$b: cable pulled (still running, off the network)"
  else
    docker kill "$c" >/dev/null
    echo power >"$DIR/unplugged-$b"
    log "$b: power pulled"
  fi
}

cmd_replug() { # NODE
  local b="${1:-}" c how; check_board "$b"; c="$(container "$b")"
  how="$(cat "$DIR/unplugged-$b" 2>/dev/null || echo none)"
  case "$how" in
    # The board's interface comes back under a new name (eth1, as a USB adapter replugged on a
    # real board might): the agent has to follow it.
    cable) docker network connect --ip "$(board_ip "$b")" "$NET" "$c"
      log "$b: cable back in ($(docker exec "$c" ip -o -4 addr show to "$(board_ip "$b")" | awk '{print $2}'))" ;;
    power) docker start "$c" >/dev/null; log "$b: powered on" ;;
    *) die "$b is not unplugged" ;;
  esac
  rm -f "$DIR/unplugged-$b"
}

cmd_down() {
  local c v
  server_kill TERM
  for c in $(docker ps -aq --filter "label=labkube.lab=$LAB"); do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
  for v in $(docker volume ls -q --filter "name=^$LAB-board"); do docker volume rm -f "$v" >/dev/null 2>&1 || true; done
  unseal_network
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$DIR"
  log "lab $LAB removed"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  status) cmd_status ;;
  unplug) shift; cmd_unplug "$@" ;;
  replug) shift; cmd_replug "$@" ;;
  provision) mkdir -p "$DIR"; provision ;;
  uninstall) shift; mkdir -p "$DIR"; cmd_uninstall "$@" ;;
  server-kill) mkdir -p "$DIR"; server_kill "${2:-KILL}" ;;
  server-start) mkdir -p "$DIR"; server_start ;;
  down) cmd_down ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2; exit 2 ;;
esac
