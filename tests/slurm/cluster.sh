#!/usr/bin/env bash
# A single-node Slurm cluster for tests: `cluster.sh start DIR` writes DIR/slurm.conf
# (this machine as the only node, its CPUs and memory, free ports), starts munge (if no
# munged runs yet), slurmctld and slurmd, and waits for the node to be idle;
# `cluster.sh stop DIR` stops the two Slurm daemons. Clients find it with
# SLURM_CONF=DIR/slurm.conf. Needs root and Debian's slurm-wlm and munge packages.
set -euo pipefail
what=$1
dir=$(realpath -m "$2")
conf=$dir/slurm.conf

stop() {
    for daemon in slurmd slurmctld; do
        if [ -f "$dir/$daemon.pid" ]; then
            kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
        fi
    done
}

if [ "$what" = stop ]; then
    stop
    exit 0
fi

mkdir -p "$dir/state" "$dir/spool"
host=$(hostname -s)
cpus=$(nproc)
memory=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
# Two free ports (what the kernel hands out for port 0).
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("", 0))
print(*[x.getsockname()[1] for x in s])')
cat >"$conf" <<CONF
ClusterName=mtmt-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    [ -f /etc/munge/munge.key ] || mungekey --create
    munged --force
fi
slurmctld -f "$conf"
slurmd -f "$conf"
export SLURM_CONF=$conf
for _ in $(seq 1 100); do
    if [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; then
        exit 0
    fi
    sleep 0.2
done
echo "the test cluster's node did not come up; logs in $dir" >&2
stop
exit 1
