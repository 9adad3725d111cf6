#!/usr/bin/env bash
# A single-node Slurm with accounting (slurmctld + slurmd + slurmrestd + slurmdbd + MariaDB +
# munge) on 127.0.0.1, for tests and demos.
#
#   scripts/slurm-local.sh start   install Debian's slurm-wlm/slurmrestd/slurmdbd/mariadb-server/
#                                  munge if missing, start the daemons (as root, no systemd) and
#                                  write connection settings
#   scripts/slurm-local.sh stop    stop the daemons this script started, by their PIDs
#   scripts/slurm-local.sh status  say whether slurmrestd and its accounting routes answer
#
# Settings go to $SLURM_LOCAL_DIR/env (default /tmp/slurm-local/env) as shell assignments:
# SLURMREST_URL, SLURMREST_SOCKET, SLURM_JWT, SLURM_USER, SLURM_PARTITION, SLURM_CONF,
# SLURM_ACCOUNTING. `start` is idempotent and returns at once when slurmrestd and its accounting
# routes already answer; a Slurm started without accounting (by an older version of this script)
# gets it with a quick restart of slurmctld, slurmd and slurmrestd (jobs and their ids survive).
#
# Why it looks like this (Debian 12, Slurm 22.05): the daemons bind loopback only
# (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny), there are no cgroups (proctrack/linuxproc,
# task/none), slurmrestd refuses to run as root (it runs as the user "slurmrest"), and JWT auth
# needs AuthAltTypes=auth/jwt with a key file, in slurmdbd too (slurmrestd's slurmdb routes reach
# it with the caller's token). Accounting, as at every real facility: slurmdbd stores jobs in a
# MariaDB of its own (own data directory, 127.0.0.1:$SLURM_LOCAL_DB_PORT, default 3307), so sacct,
# sacctmgr and slurmrestd's /slurmdb/v0.0.38 routes know jobs after slurmctld forgets them
# (MinJobAge).
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
PORT=${SLURM_LOCAL_REST_PORT:-6820}
JOB_USER=${SLURM_LOCAL_USER:-root}
REST_USER=slurmrest
CPUS=${SLURM_LOCAL_CPUS:-8}
DB_PORT=${SLURM_LOCAL_DB_PORT:-3307}
DBD_PORT=${SLURM_LOCAL_DBD_PORT:-6819}
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
SPOOL=/var/spool/slurm-local
DB_DATA=$SPOOL/mariadb
DB_SOCKET=$DIR/db/mariadb.sock
ENV_FILE=$DIR/env

log() { echo "slurm-local: $*" >&2; }

# The settings without the token's value: logs must never hold a credential.
show_settings() { sed 's/^\(SLURM_JWT=\).*/\1(in the file)/' "$ENV_FILE"; }

rest_get() {  # path: GET it from slurmrestd with the settings' token
  [ -f "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  curl -fsS -m 3 -H "X-SLURM-USER-NAME: $SLURM_USER" -H "X-SLURM-USER-TOKEN: $SLURM_JWT" \
    "$SLURMREST_URL$1" >/dev/null 2>&1
}

rest_answers() { rest_get /slurm/v0.0.38/ping; }
accounting_answers() { rest_get /slurmdb/v0.0.38/diag; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmrestd >/dev/null && command -v munged >/dev/null \
    && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null && command -v curl >/dev/null; then
    return
  fi
  log "installing slurm-wlm, slurmrestd, slurmdbd, mariadb-server, munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's service scripts are not started here (no systemd); this script starts what it needs.
  apt-get install -y -qq slurm-wlm slurmrestd slurmdbd mariadb-server munge curl >/dev/null
}

write_config() {
  mkdir -p /etc/slurm "$SPOOL/ctld" "$SPOOL/d" "$DIR/log"
  chmod 755 "$DIR" "$DIR/log"
  if [ ! -s "$SPOOL/jwt_hs256.key" ]; then
    dd if=/dev/urandom of="$SPOOL/jwt_hs256.key" bs=32 count=1 status=none
  fi
  chmod 600 "$SPOOL/jwt_hs256.key"
  cat >"$CONF" <<EOF
# Written by scripts/slurm-local.sh: a single node on loopback, for tests.
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$SPOOL/jwt_hs256.key
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
SchedulerParameters=sched_interval=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=4096 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  if [ ! -s "$SPOOL/db.pass" ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SPOOL/db.pass")
  fi
  (
    umask 077
    cat >"$DBD_CONF" <<EOF
# Written by scripts/slurm-local.sh: slurmdbd on loopback, storing into its own MariaDB.
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$SPOOL/jwt_hs256.key
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$SPOOL/db.pass")
StorageLoc=slurm_acct_db
EOF
  )
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

db() { mariadb --no-defaults --protocol=socket --socket="$DB_SOCKET" -u root "$@"; }

start_db() {  # MariaDB for slurmdbd alone: own data directory, socket and loopback port
  if alive "$DIR/mariadb.pid"; then
    return
  fi
  mkdir -p "$DB_DATA" "$DIR/db"
  chown mysql:mysql "$DB_DATA" "$DIR/db"
  if [ ! -d "$DB_DATA/mysql" ]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DATA" --skip-test-db \
      --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1
  fi
  setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB_DATA" --socket="$DB_SOCKET" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$DIR/db/mariadb.pid" \
    --log-error="$DIR/log/mariadb.log" --innodb-buffer-pool-size=64M \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$DIR/mariadb.pid"
  for _ in $(seq 150); do
    db -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  local pass
  pass=$(cat "$SPOOL/db.pass")
  db -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
         ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || {
    log "MariaDB did not start; see $DIR/log/mariadb.log"
    exit 1
  }
}

start_slurmdbd() {
  start_daemon slurmdbd "$DIR/slurmdbd.pid" /usr/sbin/slurmdbd
  for _ in $(seq 150); do
    sacctmgr -n list cluster >/dev/null 2>&1 && return
    sleep 0.2
  done
  log "slurmdbd does not answer; see $DIR/log/slurmdbd.log"
  exit 1
}

register_accounting() {  # the cluster, an account and the job user, once
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx local; then
    sacctmgr -i add cluster local >/dev/null
  fi
  if ! sacctmgr -n -P list account format=account | grep -qx local-users; then
    sacctmgr -i add account local-users cluster=local description="local tests" organization=local >/dev/null
  fi
  if ! sacctmgr -n -P list user format=user | grep -qx "$JOB_USER"; then
    sacctmgr -i add user "$JOB_USER" defaultaccount=local-users cluster=local >/dev/null
  fi
}

start_munge() {
  if alive "$DIR/munged.pid"; then
    return
  fi
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
  chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$DIR/munged.pid"
}

start_daemon() {  # name pidfile command...
  local name=$1 pidfile=$2
  shift 2
  if alive "$pidfile"; then
    return
  fi
  "$@"
  for _ in $(seq 50); do
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && return
    sleep 0.1
  done
  log "$name did not start; see $DIR/log/"
  exit 1
}

start_rest() {
  if alive "$DIR/slurmrestd.pid"; then
    return
  fi
  id -u "$REST_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$REST_USER"
  mkdir -p "$DIR/rest" && chown "$REST_USER" "$DIR/rest" && chmod 755 "$DIR/rest"
  rm -f "$DIR/rest/slurmrestd.sock"
  # slurmrestd itself authenticates to slurmctld with the caller's JWT (rest_auth/jwt); the UNIX
  # socket answers local callers as the slurmrest user (rest_auth/local).
  SLURM_JWT=daemon SLURM_CONF=$CONF setsid runuser -u "$REST_USER" -- /usr/sbin/slurmrestd \
    -a rest_auth/jwt,rest_auth/local -s openapi/v0.0.38,openapi/dbv0.0.38 \
    "127.0.0.1:$PORT" "unix:$DIR/rest/slurmrestd.sock" \
    >"$DIR/log/slurmrestd.log" 2>&1 </dev/null &
  echo $! >"$DIR/slurmrestd.pid"
}

write_env() {
  local token
  token=$(scontrol token username="$JOB_USER" lifespan=${SLURM_LOCAL_TOKEN_LIFESPAN:-604800} | sed 's/^SLURM_JWT=//')
  umask 077
  cat >"$ENV_FILE.tmp" <<EOF
SLURMREST_URL=http://127.0.0.1:$PORT
SLURMREST_SOCKET=$DIR/rest/slurmrestd.sock
SLURM_JWT=$token
SLURM_USER=$JOB_USER
SLURM_PARTITION=debug
SLURM_CONF=$CONF
SLURM_ACCOUNTING=slurmdbd
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  chmod 600 "$ENV_FILE"
}

wait_ready() {
  for _ in $(seq 100); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      break
    fi
    sleep 0.2
  done
  for _ in $(seq 100); do
    rest_answers && accounting_answers && return
    sleep 0.2
  done
  log "slurmrestd or its accounting routes do not answer; see $DIR/log/"
  exit 1
}

start_accounting() {
  start_db
  start_slurmdbd
  register_accounting
}

cmd_start() {
  mkdir -p "$DIR/log"
  if rest_answers; then
    if accounting_answers; then
      log "already running ($ENV_FILE)"
      show_settings
      return
    fi
    # Started without accounting: bring it up beside the running Slurm, then restart the
    # daemons that read it (running jobs go on; slurmctld keeps its state and job ids).
    log "adding accounting to the running Slurm"
    install_packages
    write_config
    start_munge
    start_accounting
    stop_pid "$DIR/slurmrestd.pid"
    stop_pid "$DIR/slurmctld.pid"
    stop_pid "$DIR/slurmd.pid"
  else
    install_packages
    write_config
    start_munge
    start_accounting
  fi
  start_daemon slurmctld "$DIR/slurmctld.pid" /usr/sbin/slurmctld -f "$CONF"
  start_daemon slurmd "$DIR/slurmd.pid" /usr/sbin/slurmd -f "$CONF" -N localhost
  for _ in $(seq 50); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  start_rest
  write_env
  wait_ready
  log "running; settings in $ENV_FILE"
  show_settings
}

stop_pid() {  # pidfile
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  stop_pid "$DIR/slurmrestd.pid"
  stop_pid "$DIR/slurmd.pid"
  stop_pid "$DIR/slurmctld.pid"
  stop_pid "$DIR/slurmdbd.pid"
  stop_pid "$DIR/mariadb.pid"
  stop_pid "$DIR/munged.pid"
  rm -f "$ENV_FILE" "$DIR/rest/slurmrestd.sock"
  log "stopped"
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status)
    if rest_answers && accounting_answers; then
      echo "running"
    elif rest_answers; then
      echo "running without accounting (start adds it)"
      exit 1
    else
      echo "stopped"
      exit 1
    fi
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
