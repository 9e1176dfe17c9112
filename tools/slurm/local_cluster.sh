#!/usr/bin/env bash
# A one-node Slurm cluster on loopback for tests and for trying `sae-seeds slurm` by hand (Debian's slurmctld, slurmd,
# slurm-client 22.05; no munge, no systemd, no accounting). Everything lives under one directory.
#
#   tools/slurm/local_cluster.sh start DIR    write DIR/slurm.conf, start both daemons, wait until the node is idle;
#                                              prints `export SLURM_CONF=DIR/slurm.conf` for the caller to eval
#   tools/slurm/local_cluster.sh stop DIR     stop the daemons by their PID files
#
# Settings that matter (measured on Slurm 22.05): auth/none + cred/none need no munged; proctrack/linuxproc and
# task/none need no cgroups; batch_sched_delay=0,sched_min_interval=0 remove seconds between array tasks;
# kill_invalid_depend belongs under DependencyParameters (under SchedulerParameters it is silently ignored and an
# afterok job whose dependency failed waits forever).
set -euo pipefail
cmd="${1:?usage: local_cluster.sh start|stop DIR}"
dir="$(mkdir -p "${2:?usage: local_cluster.sh start|stop DIR}" && cd "$2" && pwd)"
host="$(hostname -s)"
conf="$dir/slurm.conf"

stop() {
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: local_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac

getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts
cpus="$(nproc)"
mem_mb="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))"
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
cat > "$conf" <<CONF
ClusterName=sae-seeds-test
SlurmctldHost=$host
SlurmctldPort=$(( 16817 + RANDOM % 1000 ))
SlurmdPort=$(( 17817 + RANDOM % 1000 ))
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
DependencyParameters=kill_invalid_depend
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MinJobAge=3600
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$conf"
stop
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 100); do
  if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
echo "local_cluster.sh: the node did not become idle; see $dir/log" >&2
exit 1
