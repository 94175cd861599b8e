#!/usr/bin/env bash
# Install what the tests drive besides Python packages: Azurite and axe-core (npm), Chromium (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f tests/emulators/package.json ]; then
  if [ ! -x tests/emulators/node_modules/.bin/azurite-blob ] || [ ! -f tests/emulators/node_modules/axe-core/axe.min.js ]; then
    (cd tests/emulators && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium/chromedriver missing and not root: browser tests will skip (CI installs them)" >&2
  fi
fi

# OpenLDAP's server for the flaskpypi-ldap plugin's tests (they start their own slapd on loopback).
if [ ! -x /usr/sbin/slapd ] || [ ! -x /usr/sbin/slapadd ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils >/dev/null
  else
    echo "note: slapd missing and not root: LDAP tests will skip (CI installs it)" >&2
  fi
fi

# The container image test (podman, runc, debootstrap for a base image made from Debian's packages) and the
# reverse-proxy test (nginx-light, openssl for its certificate).
need=()
for tool in podman:podman runc:runc debootstrap:debootstrap nginx:nginx-light openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: ${need[*]} missing and not root: container and nginx tests will skip (CI installs them)" >&2
  fi
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth on loopback, for the postgres-marked tests (these machines start
# one before every session; a fresh machine gets Debian's server, started here). FLASKPYPI_TEST_POSTGRES points
# the tests at another server instead.
pg_up() { python3 - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}
if [ -z "${FLASKPYPI_TEST_POSTGRES:-}" ] && ! pg_up; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    [ -d /etc/postgresql ] || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    grep -q "flaskpypi tests" "$hba" || sed -i '1i # flaskpypi tests: trust on loopback\nhost all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test"
  else
    echo "note: no PostgreSQL on 127.0.0.1:5432 and not root: postgres tests will skip (CI must have one)" >&2
  fi
fi
