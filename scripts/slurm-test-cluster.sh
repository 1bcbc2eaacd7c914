#!/usr/bin/env bash
# A one-machine Slurm cluster for the tests: munged, slurmctld and slurmd of Debian's packages, everything they
# write (key, config, state, spool, logs, pid files, munge socket) in one folder, and free ports, so that nothing
# in /etc is written and two clusters on one machine do not meet.
#   scripts/slurm-test-cluster.sh start DIR   installs the packages when missing (as root), starts the daemons,
#                                             waits for the node to be idle; prints SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-test-cluster.sh stop DIR    stops them by their pid files (never by name), slurmd first
# Exit 3 from start: Slurm is missing and cannot be installed here (not root); the reason is on stderr.
set -euo pipefail
PACKAGES=(slurmctld slurmd slurm-client munge)
cmd="${1:-}"
dir="${2:-}"
[[ ( "$cmd" == start || "$cmd" == stop ) && -n "$dir" ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop_pidfile() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "$file: process $pid did not stop in 10 s" >&2
}

stop_all() {
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  stop_pidfile "$dir/munged.pid"
}

if [ "$cmd" = stop ]; then
  stop_all
  exit 0
fi

missing=()
for c in munged slurmctld slurmd sbatch; do command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Slurm is not installed (${missing[*]} missing) and this user cannot install it (not root): apt-get install ${PACKAGES[*]}" >&2
    exit 3
  fi
  t0=$SECONDS
  # The package lists of a fresh machine may be missing or stale: refresh them once if the install fails.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$dir.apt.log" 2>&1 ||
    { apt-get update -q >>"$dir.apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >>"$dir.apt.log" 2>&1; } ||
    { tail -20 "$dir.apt.log" >&2; echo "apt-get install ${PACKAGES[*]} failed (log: $dir.apt.log)" >&2; exit 1; }
  echo "installed ${PACKAGES[*]} in $((SECONDS - t0)) s" >&2
fi
PATH="$PATH:/usr/sbin"

mkdir -p "$dir"/{state,spool,log,munge}
# A start that fails stops what it started.
trap stop_all EXIT
chmod 700 "$dir" "$dir/munge"
# munged checks that its key is private to the user it runs as.
head -c 1024 /dev/urandom >"$dir/munge.key"
chmod 400 "$dir/munge.key"
munged --key-file="$dir/munge.key" --socket="$dir/munge/socket" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" --force
for _ in $(seq 50); do [ -S "$dir/munge/socket" ] && break; sleep 0.1; done

# Two free TCP ports for slurmctld and slurmd (the defaults, 6817/6818, may be taken by another cluster).
read -r ctld_port d_port < <(node -e '
  const net = require("node:net");
  const free = () => new Promise((ok) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });
  (async () => { const a = await free(); let b; do b = await free(); while (b === a); process.stdout.write(`${a} ${b}\n`); })();')
host=$(hostname -s)
mem=$(awk '/MemAvailable/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
cat >"$dir/slurm.conf" <<EOF
ClusterName=advfree-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=30
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  state=$(sinfo -h -N -o %t 2>/dev/null || true)
  [ "$state" = idle ] && { trap - EXIT; echo "SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.2
done
echo "the Slurm node did not come up in 20 s (state '${state:-none}'); logs in $dir/log" >&2
tail -5 "$dir"/log/*.log >&2 || true
exit 1
