#!/usr/bin/env bash
# Helpers for .ci/run: find or start the services the tests use. Each reuses a running service and
# otherwise installs it from Debian's packages and starts a private instance.

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The C libraries the build links: OpenSSL (webauthn-rs verifies passkeys with it) through pkg-config.
ensure_build_libraries() {
  if ! pkg-config --exists openssl 2>/dev/null; then
    echo "== installing libssl-dev and pkg-config"
    apt_install libssl-dev pkg-config
  fi
}

# Debian's chromium for the browser suite (Playwright's own browser download is not used).
ensure_chromium() {
  if [[ ! -x /usr/bin/chromium ]]; then
    echo "== installing chromium"
    apt_install chromium
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "== installing node and npm"
    apt_install nodejs npm
  fi
}

# Sets PGPORT_CI (a server with trust auth for user postgres) and PG_BIN (initdb, pg_ctl).
ensure_postgres() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$PG_BIN" ]]; then
    echo "== installing PostgreSQL"
    apt_install postgresql
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  if port_open 5432; then
    PGPORT_CI=5432
    echo "== PostgreSQL already running on 5432"
    return
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start 2>/dev/null || true
    for _ in $(seq 1 50); do port_open 5432 && break; sleep 0.1; done
    if port_open 5432; then
      PGPORT_CI=5432
      echo "== PostgreSQL cluster started on 5432"
      return
    fi
  fi
  PGPORT_CI=55432
  local dir=/tmp/rampart-ci-pg
  echo "== starting a private PostgreSQL on ${PGPORT_CI}"
  rm -rf "$dir" && mkdir -p "$dir" && chown postgres "$dir" 2>/dev/null || true
  as_postgres "$PG_BIN/initdb" -A trust -U postgres -D "$dir/data" >/dev/null
  as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -o "-p ${PGPORT_CI} -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Sets REDIS_PORT_CI: the machine's Redis on 6379 when it answers, else a private one.
ensure_redis() {
  if port_open 6379; then
    REDIS_PORT_CI=6379
    echo "== Redis already running on 6379"
    return
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "== installing Redis"
    apt_install redis-server
  fi
  REDIS_PORT_CI=56379
  echo "== starting a private Redis on ${REDIS_PORT_CI}"
  redis-server --daemonize yes --bind 127.0.0.1 --port "${REDIS_PORT_CI}" --save '' --appendonly no \
    --dir /tmp --logfile /tmp/rampart-ci-redis.log
  for _ in $(seq 1 50); do port_open "${REDIS_PORT_CI}" && return; sleep 0.1; done
  echo "Redis did not start" >&2
  return 1
}

# Sets S3_URL_CI: a moto S3 server (PyPI's moto[server]) on a private port.
ensure_moto() {
  local port=59000
  S3_URL_CI="http://127.0.0.1:${port}"
  if port_open "$port"; then
    echo "== S3 emulator already running on ${port}"
    return
  fi
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "== installing moto[server]"
    python3 -m pip install --quiet "moto[server]"
  fi
  echo "== starting moto on ${port}"
  nohup moto_server -H 127.0.0.1 -p "$port" >/tmp/rampart-ci-moto.log 2>&1 &
  for _ in $(seq 1 100); do port_open "$port" && return; sleep 0.1; done
  echo "moto did not start" >&2
  return 1
}

# The mail tests run a real SMTP server: aiosmtpd from PyPI, started by the tests themselves.
ensure_aiosmtpd() {
  if python3 -c "import aiosmtpd" >/dev/null 2>&1; then
    echo "== aiosmtpd available"
    return
  fi
  echo "== installing aiosmtpd"
  python3 -m pip install --quiet aiosmtpd
}

# The contract check (tests/contract/run) makes a virtualenv; Debian's python3 needs python3-venv for it.
ensure_python_venv() {
  local probe
  probe=$(mktemp -d)
  if python3 -m venv "$probe/v" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "== python3 venv available"
    return
  fi
  rm -rf "$probe"
  echo "== installing python3-venv"
  apt_install python3-venv
}
