# Shared shell helpers for scripts/serve and scripts/test (sourced, not run).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

# A Python 3.12+ interpreter: python3.13/3.12 on PATH, then pyenv's versions.
find_python() {
  local cand
  for cand in python3.13 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for cand in "$(pyenv root)"/versions/3.13*/bin/python3 "$(pyenv root)"/versions/3.12*/bin/python3; do
      if [ -x "$cand" ]; then echo "$cand"; return 0; fi
    done
  fi
  return 1
}

# Create .venv (once) and install the given requirements file into it.
ensure_venv() {
  local reqs="$1" py
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
    py="$(find_python)" || die "Portico needs Python 3.12 or newer; install python3.12 (or pyenv install 3.12) and rerun."
    say "Creating .venv with $py"
    rm -rf .venv
    "$py" -m venv .venv
  fi
  # The stamp holds a hash of the requirement files, so a pull or checkout that changes them (whatever the
  # files' times) installs again.
  local stamp=".venv/.installed-$(basename "$reqs")" sum
  sum="$(cat "$reqs" requirements.txt | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    say "Installing $reqs"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$reqs"
    echo "$sum" >"$stamp"
  fi
}

# Install Debian packages for the given commands when missing (only as root).
ensure_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd="${pair%%:*}"; pkg="${pair##*:}"
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "Missing system packages: ${missing[*]} (run as root to install them, or apt-get install them yourself)"
    return 0
  fi
  say "Installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Whether the engine answers within 15 s (a wedged dockerd must not hang the scripts forever).
docker_answers() { timeout 15 docker info >/dev/null 2>&1; }

# Start dockerd when no engine answers (as root; this machine kind has no systemd).
ensure_dockerd() {
  if docker_answers; then return 0; fi
  if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null 2>&1; then
    say "No Docker engine answers and dockerd cannot be started here; Docker features will be unavailable."
    return 0
  fi
  local pidfile=/var/run/portico-dockerd.pid log=/var/log/portico-dockerd.log pid
  for pidfile_any in "$pidfile" /var/run/docker.pid; do
    [ -f "$pidfile_any" ] || continue
    pid="$(cat "$pidfile_any")"
    if kill -0 "$pid" 2>/dev/null; then
      # A daemon runs but does not answer: restart it rather than start a second one on the same data root.
      say "dockerd (pid $pid) does not answer; restarting it"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile_any"
  done
  say "Starting dockerd (log: $log)"
  setsid dockerd --bridge=none --iptables=false --ip6tables=false --pidfile "$pidfile" >"$log" 2>&1 < /dev/null &
  local i
  for i in $(seq 1 120); do
    if docker_answers; then return 0; fi
    sleep 0.5
  done
  tail -20 "$log" >&2
  die "dockerd did not answer within 60 s (log above)"
}

# The local test image: busybox-static with its applets, imported without a registry.
ensure_test_image() {
  local image="portico-test/busybox:1"
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || die "busybox-static is needed to build $image"
  say "Building $image from busybox-static"
  local dir; dir="$(mktemp -d)"
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/www" "$dir/etc"
  cp "$(command -v busybox || echo /bin/busybox)" "$dir/bin/busybox"
  local applet
  for applet in $("$dir/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$dir/etc/passwd"
  tar -C "$dir" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
  rm -rf "$dir"
}

# Compile locale/*/LC_MESSAGES/django.po into the .mo files Django reads (the .mo files are not committed).
compile_messages() {
  command -v msgfmt >/dev/null 2>&1 || die "msgfmt (Debian package gettext) is needed to compile the translations"
  .venv/bin/python manage.py compilemessages --ignore .venv --ignore var --ignore test-results -v0
}

# PostgreSQL's server programs (Debian keeps them out of PATH, under /usr/lib/postgresql/VERSION/bin).
pg_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

# Start a throwaway PostgreSQL cluster for the test run and set PORTICO_TEST_PG_URL to its database URL.
# The cluster lives in a temp dir (owned by the postgres user when run as root: initdb refuses root), listens
# on 127.0.0.1 on a free port and on a socket in that dir, trusts local connections only, runs without fsync,
# and is stopped and removed when the calling script exits. The role "portico" may create databases (pytest-django
# makes test_portico) but is no superuser, as a production role would not be. Returns 1 when it cannot start.
start_test_postgres() {
  local bin dir port run=() log collation="ICU en-US"
  bin="$(pg_bindir)" || { say "PostgreSQL is not installed (Debian package postgresql)"; return 1; }
  dir="$(mktemp -d -t portico-pg-XXXXXX)"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { say "no postgres system user to run the test cluster as"; return 1; }
    chown postgres: "$dir"
    run=(runuser -u postgres --)
  fi
  log="$dir/server.log"
  # shellcheck disable=SC2064  # the paths are fixed now, on purpose
  trap "${run[*]} '$bin/pg_ctl' -D '$dir/data' -m immediate stop >/dev/null 2>&1 || true; rm -rf '$dir'" EXIT
  trap 'exit 130' INT; trap 'exit 143' TERM  # so that a stopped run still stops its cluster (the EXIT trap)
  # ICU en-US collation where the server has it (PostgreSQL 15+): orders and compares text as a typical
  # production cluster does, not byte by byte as SQLite and the C locale do.
  if ! "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
      --locale-provider=icu --icu-locale=en-US >"$dir/initdb.log" 2>&1; then
    "${run[@]}" rm -rf "$dir/data"
    collation="C.UTF-8"
    if ! "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2; return 1
    fi
  fi
  # Only this machine, and only by socket or 127.0.0.1: trust is safe for a cluster nobody else can reach.
  printf '%s\n' "local all all trust" "host all all 127.0.0.1/32 trust" | "${run[@]}" tee "$dir/data/pg_hba.conf" >/dev/null
  port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  if ! "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$log" -w -t 60 start -o "-c listen_addresses=127.0.0.1 \
      -c port=$port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
      -c max_connections=200 -c shared_buffers=64MB" >/dev/null; then
    tail -20 "$log" >&2; return 1
  fi
  # pg_signal_backend: the tests' DROP DATABASE ... WITH (FORCE) of a server's database must be able to end an
  # autovacuum worker that happens to be in it (it has no role of its own, and the drop failed now and then).
  "${run[@]}" "$bin/psql" -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE portico LOGIN CREATEDB" -c "CREATE DATABASE portico OWNER portico" \
    -c "GRANT pg_signal_backend TO portico" >/dev/null || return 1
  PORTICO_TEST_PG_URL="postgres://portico@127.0.0.1:$port/portico"
  say "PostgreSQL $("$bin/postgres" -V | awk '{print $3}') test cluster ($collation) on 127.0.0.1:$port, $dir"
}
