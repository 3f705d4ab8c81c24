#!/bin/sh
# PID 1's child in a simulated board (docker run --init gives tini as PID 1, which reaps).
# It plays the part systemd plays at boot on a real board:
#   1. start the board's own Docker engine, with its containers under the cgroup parent
#      /labkube-<hostname> so each board's pods are accounted apart from the other boards';
#   2. start the labkube agent's supervisor if the agent role installed it (after a power cut
#      the agent comes back by itself, as `Restart=always` + `WantedBy=multi-user.target` do);
#   3. wait forever (until `docker kill`, the simulated power loss).
set -u
board="$(hostname)"
mkdir -p /etc/docker /var/log
# iptables: use the legacy backend if this kernel's nf_tables does not work in the container.
if ! iptables -t nat -L -n >/dev/null 2>&1 && [ -x /usr/sbin/iptables-legacy ]; then
  update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null 2>&1 || true
  update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
fi
# The network settings a real board boots with; a container's network namespace would inherit
# this machine's instead. Forwarding is off until the board's Docker engine turns it on, and then
# the engine also sets the FORWARD policy to DROP, as on a real board: the pod network has to open
# its own way through. Reverse-path filtering is loose (2), as systemd sets it on Debian and
# Raspberry Pi OS: a packet from another board's pod (source 10.42.x, routed host-gw style) is
# accepted while some route leads back to its source.
echo 0 >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
for f in /proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/ipv4/conf/default/rp_filter; do
  echo 2 >"$f" 2>/dev/null || true
done
# Then /etc/sysctl.d, as systemd-sysctl applies it at boot (the agent role writes a file there).
sysctl -q --system >/dev/null 2>&1 || true
# The engine reads its settings from daemon.json, so an engine started by the docker role (or by
# hand) gets the same cgroup parent as this one.
[ -s /etc/docker/daemon.json ] || printf '{\n  "cgroup-parent": "/labkube-%s",\n  "storage-driver": "overlay2"\n}\n' "$board" >/etc/docker/daemon.json
start-stop-daemon --start --quiet --background --make-pidfile --pidfile /run/dockerd-supervisor.pid \
  --startas /bin/sh -- -c 'exec /usr/sbin/dockerd >>/var/log/dockerd.log 2>&1'
i=0
while [ "$i" -lt 300 ] && ! docker info >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
if [ -x /usr/local/sbin/labkube-agent-supervise ]; then
  start-stop-daemon --start --quiet --background --make-pidfile --pidfile /run/labkube-agent-supervise.pid \
    --exec /usr/local/sbin/labkube-agent-supervise
fi
exec sleep infinity
