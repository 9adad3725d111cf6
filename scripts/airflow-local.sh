#!/usr/bin/env bash
# A whole Airflow deployment on 127.0.0.1 for tests and demos: a private PostgreSQL cluster, the
# facility emulator, and Airflow's api-server, scheduler (LocalExecutor), dag-processor and
# triggerer as separate processes. Runs as root, without systemd.
#
#   scripts/airflow-local.sh start        install Debian's postgresql if missing, then start what is
#                                         not running (idempotent: a component killed earlier is
#                                         started again, the rest is left alone); exits 3 when
#                                         PostgreSQL is missing and cannot be installed
#   scripts/airflow-local.sh stop         stop everything this script started, by its PIDs, and
#                                         remove the database cluster
#   scripts/airflow-local.sh status       say whether the api-server reports every component healthy
#   scripts/airflow-local.sh kill NAME    SIGKILL one component's process group (api-server,
#                                         scheduler, dag-processor, triggerer, emulator): a crash
#
# Settings come from the environment:
#   AIRFLOW_LOCAL_DIR   state, logs and settings (default /tmp/airflow-local)
#   AIRFLOW_LOCAL_DAGS  folders whose *.py files form the DAGs folder (default: example_dags and
#                       tests/deployment/dags of this checkout)
#   AIRFLOW_LOCAL_POLL  seconds for every interval a setting can shorten (default 1)
# What the tests need is written to $AIRFLOW_LOCAL_DIR/env (mode 0600) as shell assignments:
# AIRFLOW_LOCAL_API_URL, AIRFLOW_LOCAL_USER, AIRFLOW_LOCAL_PASSWORD, AIRFLOW_LOCAL_HOME,
# AIRFLOW_LOCAL_LOGS, AIRFLOW_LOCAL_EMULATOR (the emulator's JSON description file),
# AIRFLOW_LOCAL_PG_URL. $AIRFLOW_LOCAL_DIR/airflow.env holds the Airflow settings every process
# gets (source it to run `airflow` commands against the deployment).
#
# The emulator's connections: hpc_site_a (IRI v1, a static token), hpc_site_b (IRI v1, OIDC client
# credentials) and hpc_site_c (IRI v2, a static token); site A's and B's name their Globus
# collections (eagle, dtn), and globus_default holds the emulator's Globus confidential client.
#
# Why it looks like this: PostgreSQL runs as the postgres user from a data directory under
# /tmp, on a free loopback port with its socket beside it (no system cluster is touched);
# fsync is off because the cluster is thrown away. Each component runs in its own process
# group (setsid), so `kill` and `stop` reach a component's children and nothing else.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DIR=${AIRFLOW_LOCAL_DIR:-/tmp/airflow-local}
DAG_SOURCES=${AIRFLOW_LOCAL_DAGS:-"$REPO/example_dags $REPO/tests/deployment/dags"}
POLL=${AIRFLOW_LOCAL_POLL:-1}
PY=$REPO/.venv/bin/python
AIRFLOW=$REPO/.venv/bin/airflow
ENV_FILE=$DIR/env
AIRFLOW_ENV=$DIR/airflow.env
PG_DATA=$DIR/pg/data
PG_RUN=$DIR/pg/run
COMPONENTS="api-server scheduler dag-processor triggerer"

log() { echo "airflow-local: $*" >&2; }

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

secret() { "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))'; }

alive() {  # pidfile
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

pg_bin() {
  local bin
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/initdb" ] && { echo "$bin"; return 0; }
  done
  return 1
}

install_postgres() {
  pg_bin >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL is not installed and only root can install it"
    return 1
  fi
  log "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  pg_bin >/dev/null
}

# -- PostgreSQL ---------------------------------------------------------------------------------

pg_ready() {
  [ -f "$ENV_FILE" ] || return 1
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
}

start_postgres() {
  local bin
  bin=$(pg_bin)
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    mkdir -p "$PG_DATA" "$PG_RUN"
    chown -R postgres:postgres "$DIR/pg"
    chmod 700 "$PG_DATA"
    printf '%s\n' "$PG_PASSWORD" >"$DIR/pg/superuser-password"
    chown postgres "$DIR/pg/superuser-password" && chmod 600 "$DIR/pg/superuser-password"
    runuser -u postgres -- "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=peer \
      --auth-host=scram-sha-256 --pwfile="$DIR/pg/superuser-password" --no-sync \
      >"$DIR/log/initdb.log" 2>&1
    rm -f "$DIR/pg/superuser-password"
  fi
  if ! runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    touch "$DIR/log/postgresql.log" && chown postgres "$DIR/log/postgresql.log"
    runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DATA" -l "$DIR/log/postgresql.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$PG_RUN \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
  fi
  if ! runuser -u postgres -- "$bin/psql" -h "$PG_RUN" -p "$PG_PORT" -d postgres -tAc \
    "SELECT 1 FROM pg_roles WHERE rolname = 'airflow'" | grep -q 1; then
    runuser -u postgres -- "$bin/psql" -q -h "$PG_RUN" -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 \
      -v pw="$PG_PASSWORD" >/dev/null <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'pw';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8' TEMPLATE template0;
SQL
  fi
}

# -- the emulator -------------------------------------------------------------------------------

start_emulator() {
  alive "$DIR/pids/emulator" && return 0
  rm -f "$DIR/emulator.json"
  setsid "$PY" -m facility_emulator --json --port "$EMULATOR_PORT" --root "$DIR/facility" \
    --queue-delay 0.1 --task-delay 0.01 >"$DIR/emulator.json" 2>"$DIR/log/emulator.log" </dev/null &
  echo $! >"$DIR/pids/emulator"
  for _ in $(seq 100); do
    [ -s "$DIR/emulator.json" ] && return 0
    alive "$DIR/pids/emulator" || break
    sleep 0.1
  done
  log "the emulator did not start; see $DIR/log/emulator.log"
  return 1
}

# -- Airflow ------------------------------------------------------------------------------------

write_settings() {  # first start only: ports, secrets
  umask 077
  cat >"$DIR/settings" <<EOF
PG_PORT=$(free_port)
PG_PASSWORD=$(secret)
API_PORT=$(free_port)
EMULATOR_PORT=$(free_port)
ADMIN_PASSWORD=$(secret)
FERNET_KEY=$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
JWT_SECRET=$(secret)
API_SECRET=$(secret)
EOF
}

write_airflow_env() {
  local connections
  connections=$("$PY" - "$DIR/emulator.json" <<'PYTHON'
import json, shlex, sys
info = json.load(open(sys.argv[1]))
credentials = info["credentials"]
collections = credentials["globus"]["collections"]
site_a = {
    "conn_type": "facility_iri",
    "host": info["iri"]["v1"],
    "password": credentials["static_token"],
    "extra": {"globus_collections": {"eagle": collections["alcf-eagle"]["id"]}},
}
site_b = {
    "conn_type": "facility_iri",
    "host": info["iri"]["v1"],
    "login": credentials["client_id"],
    "password": credentials["client_secret"],
    "extra": {
        "auth_type": "oidc_client_credentials",
        "token_url": credentials["token_url"],
        "globus_collections": {"dtn": collections["nersc-dtn"]["id"]},
    },
}
globus = {
    "conn_type": "facility_globus",
    "host": info["globus"]["transfer"] + "/",
    "login": credentials["client_id"],
    "password": credentials["client_secret"],
    "extra": {"auth_base_url": info["url"] + "/globus/"},
}
site_c = {
    "conn_type": "facility_iri",
    "host": info["iri"]["v2"],
    "password": credentials["static_token"],
    "extra": {"project": "demo"},
}
print(f"export AIRFLOW_CONN_HPC_SITE_A={shlex.quote(json.dumps(site_a))}")
print(f"export AIRFLOW_CONN_HPC_SITE_C={shlex.quote(json.dumps(site_c))}")
print(f"export AIRFLOW_CONN_HPC_SITE_B={shlex.quote(json.dumps(site_b))}")
print(f"export AIRFLOW_CONN_GLOBUS_DEFAULT={shlex.quote(json.dumps(globus))}")
PYTHON
)
  umask 077
  cat >"$AIRFLOW_ENV" <<EOF
export AIRFLOW_HOME=$DIR/home
export AIRFLOW__CORE__DAGS_FOLDER=$DIR/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__BASE_LOG_FOLDER=$DIR/log/tasks
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=16
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__FERNET_KEY=$FERNET_KEY
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$API_PORT/execution/
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=operator:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$DIR/passwords.json
export AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL=$POLL
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow:$PG_PASSWORD@127.0.0.1:$PG_PORT/airflow
export AIRFLOW__API__BASE_URL=http://127.0.0.1:$API_PORT
export AIRFLOW__API__PORT=$API_PORT
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__SECRET_KEY=$API_SECRET
export AIRFLOW__API_AUTH__JWT_SECRET=$JWT_SECRET
export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=$POLL
export AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC=$POLL
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=$((POLL * 8))
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=$POLL
export AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL=$POLL
export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD=$((POLL * 30))
export AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC=$POLL
export AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD=$((POLL * 15))
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=$((POLL * 5))
export AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL=$POLL
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES=1
export AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL=$POLL
export NO_PROXY=127.0.0.1,localhost
export no_proxy=127.0.0.1,localhost
$connections
EOF
  printf '{"operator": "%s"}\n' "$ADMIN_PASSWORD" >"$DIR/passwords.json"
}

link_dags() {
  mkdir -p "$DIR/dags"
  local source file
  for source in $DAG_SOURCES; do
    for file in "$source"/*.py; do
      if [ -e "$file" ]; then ln -sfn "$file" "$DIR/dags/$(basename "$file")"; fi
    done
  done
}

start_component() {  # name
  local name=$1
  alive "$DIR/pids/$name" && return 0
  (
    # shellcheck disable=SC1090
    . "$AIRFLOW_ENV"
    cd "$DIR"
    exec setsid "$AIRFLOW" "$name" >>"$DIR/log/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$DIR/pids/$name"
}

api_health() {  # prints the health document
  curl -fsS -m 5 "http://127.0.0.1:$API_PORT/api/v2/monitor/health" 2>/dev/null
}

all_healthy() {
  api_health | "$PY" -c '
import json, sys
health = json.load(sys.stdin)
parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
sys.exit(0 if all(health.get(p, {}).get("status") == "healthy" for p in parts) else 1)
' 2>/dev/null
}

wait_healthy() {
  for _ in $(seq 240); do
    all_healthy && return 0
    for name in $COMPONENTS; do
      if ! alive "$DIR/pids/$name"; then
        log "$name exited; the end of $DIR/log/$name.log:"
        tail -n 30 "$DIR/log/$name.log" >&2 || true
        return 1
      fi
    done
    sleep 0.5
  done
  log "the deployment did not become healthy; see $DIR/log/"
  api_health >&2 || true
  return 1
}

write_env() {
  umask 077
  cat >"$ENV_FILE.tmp" <<EOF
AIRFLOW_LOCAL_API_URL=http://127.0.0.1:$API_PORT
AIRFLOW_LOCAL_USER=operator
AIRFLOW_LOCAL_PASSWORD=$ADMIN_PASSWORD
AIRFLOW_LOCAL_HOME=$DIR/home
AIRFLOW_LOCAL_LOGS=$DIR/log
AIRFLOW_LOCAL_EMULATOR=$DIR/emulator.json
AIRFLOW_LOCAL_PG_URL=postgresql://airflow@127.0.0.1:$PG_PORT/airflow
PG_PORT=$PG_PORT
API_PORT=$API_PORT
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

cmd_start() {
  mkdir -p "$DIR/log" "$DIR/pids" "$DIR/facility"
  chmod 755 "$DIR"
  install_postgres || exit 3
  [ -s "$DIR/settings" ] || write_settings
  # shellcheck disable=SC1091
  . "$DIR/settings"
  start_postgres
  start_emulator
  write_airflow_env
  link_dags
  if [ ! -f "$DIR/migrated" ]; then
    (
      # shellcheck disable=SC1090
      . "$AIRFLOW_ENV"
      "$AIRFLOW" db migrate >"$DIR/log/db-migrate.log" 2>&1
    ) || { log "airflow db migrate failed; see $DIR/log/db-migrate.log"; tail -n 20 "$DIR/log/db-migrate.log" >&2; return 1; }
    touch "$DIR/migrated"
  fi
  for name in $COMPONENTS; do start_component "$name"; done
  write_env
  wait_healthy
  log "running: http://127.0.0.1:$API_PORT (user operator, password in $ENV_FILE)"
}

stop_groups() {  # names...: TERM every process group at once, KILL what is left after 10 s
  local name pid pids=()
  for name in "$@"; do
    [ -f "$DIR/pids/$name" ] || continue
    pid=$(cat "$DIR/pids/$name")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- -"$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$DIR/pids/$name"
  done
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL -- -"$pid" 2>/dev/null || true; done
}

cmd_kill() {  # name
  local name=${1:-}
  case " $COMPONENTS emulator " in
    *" $name "*) ;;
    *) echo "usage: $0 kill api-server|scheduler|dag-processor|triggerer|emulator" >&2; exit 2 ;;
  esac
  [ -f "$DIR/pids/$name" ] || { log "$name is not running"; return 0; }
  kill -KILL -- -"$(cat "$DIR/pids/$name")" 2>/dev/null || true
  rm -f "$DIR/pids/$name"
  log "killed $name"
}

cmd_stop() {
  stop_groups triggerer dag-processor scheduler api-server emulator
  local bin
  if bin=$(pg_bin) && [ -s "$PG_DATA/PG_VERSION" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR/pg" "$DIR/facility" "$DIR/settings" "$DIR/migrated" "$ENV_FILE" "$AIRFLOW_ENV" \
    "$DIR/passwords.json" "$DIR/emulator.json" "$DIR/home" "$DIR/dags"
  log "stopped (logs stay in $DIR/log)"
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status)
    if [ -f "$ENV_FILE" ] && . "$ENV_FILE" && all_healthy; then echo "running"; else echo "stopped"; exit 1; fi
    ;;
  kill) cmd_kill "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|kill NAME" >&2; exit 2 ;;
esac
