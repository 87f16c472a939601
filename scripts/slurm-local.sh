#!/usr/bin/env bash
# A real single-node Slurm (slurmctld + slurmd + munged) on this machine, for tests and CI.
#
#   scripts/slurm-local.sh install      # apt-get install slurm-wlm munge (root, Debian/Ubuntu)
#   scripts/slurm-local.sh start DIR    # write DIR/slurm.conf, start the daemons, wait for the node
#   scripts/slurm-local.sh stop DIR     # stop the daemons started in DIR
#   scripts/slurm-local.sh available    # exit 0 if Slurm can be started here (root + binaries)
#
# The daemons run as root, bound to this host (NodeAddr 127.0.0.1). Every state and log file
# lives in DIR; SLURM_CONF is what clients need: `start` prints `export SLURM_CONF=DIR/slurm.conf`.
set -euo pipefail

die() { echo "slurm-local.sh: $*" >&2; exit 1; }

cmd_available() {
  [[ $(id -u) == 0 ]] && command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null
}

cmd_install() {
  if cmd_available; then return 0; fi
  [[ $(id -u) == 0 ]] || die "installing and running Slurm needs root"
  command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge by hand"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null; }
  cmd_available || die "slurm-wlm installed but slurmctld/slurmd/munged are missing"
}

cmd_start() {
  local dir=${1:?usage: start DIR} host cpus mem i
  cmd_available || die "Slurm is not installed (run: $0 install)"
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  for i in 6917 6918; do
    if (: <>"/dev/tcp/127.0.0.1/$i") 2>/dev/null; then die "port $i on 127.0.0.1 is in use (another Slurm running?)"; fi
  done
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" /run/munge
  # munge: one key per machine; created if the package did not.
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chmod 400 /etc/munge/munge.key
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- munged --force || munged --force
  fi
  cat >"$dir/cgroup.conf" <<EOF
CgroupPlugin=autodetect
EOF
  cat >"$dir/slurm.conf" <<EOF
ClusterName=tokenmill-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.5
  done
  tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  die "the node did not become idle"
}

cmd_stop() {
  local dir=${1:?usage: stop DIR} f pid
  dir=$(cd "$dir" && pwd)
  for f in slurmd slurmctld; do
    if [[ -f "$dir/$f.pid" ]]; then
      pid=$(cat "$dir/$f.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  available) cmd_available ;;
  *) die "usage: $0 install | start DIR | stop DIR | available" ;;
esac
