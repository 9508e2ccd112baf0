#!/usr/bin/env bash
# A single-node Slurm on localhost for the tests of `rtsu batch --executor slurm`: installs Debian's
# slurm-wlm and munge (as root), writes a slurm.conf for this host only (its real CPU count and memory),
# starts munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle. The daemons bind
# to 127.0.0.1 (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny with every address 127.0.0.1);
# munged talks over a unix socket. Safe to rerun: it restarts the daemons with the same config.
# Exits non-zero, saying why, when it cannot; the Slurm tests then skip with that reason.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE_DIR=/var/spool/slurm-rtsu
LOG_DIR=/var/log/slurm

if [ "$(id -u)" != 0 ]; then
  echo "setup_slurm: needs root (apt-get and the daemons)" >&2
  exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v pgrep >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge procps >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$CONF_DIR" "$STATE_DIR/ctld" "$STATE_DIR/d" "$LOG_DIR" /run/munge
cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by rtsu_lib's scripts/setup_slurm.sh: one node, this host, localhost only.
ClusterName=rtsu-test
SlurmctldHost=$host(127.0.0.1)
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=3600
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
printf "CgroupPlugin=autodetect\nCgroupAutomount=no\n" > "$CONF_DIR/cgroup.conf"

# munge: a key of its own if none, the daemon on its unix socket
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c "/usr/sbin/munged"
munge -n | unmunge >/dev/null || { echo "setup_slurm: munge does not work" >&2; exit 1; }

# slurm: stop our earlier daemons (by their pid files), start fresh ones
for daemon in slurmd slurmctld; do
  if [ -f /run/$daemon.pid ]; then
    kill "$(cat /run/$daemon.pid)" 2>/dev/null || true
    sleep 1
  fi
done
/usr/sbin/slurmctld -i
/usr/sbin/slurmd

for _ in $(seq 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  if [ "$state" = idle ]; then
    echo "setup_slurm: node $host idle ($cpus CPUs, ${mem_mb} MB) on 127.0.0.1"
    exit 0
  fi
  sleep 1
done
echo "setup_slurm: node $host did not become idle (state '${state:-none}'); see $LOG_DIR" >&2
exit 1
