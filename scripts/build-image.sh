#!/usr/bin/env bash
# Build the flaskpypi container image with podman (or docker: PODMAN=docker).
#
#   scripts/build-image.sh [TAG]          TAG defaults to localhost/flaskpypi:latest
#
# Environment:
#   BASE        the base image (any Debian-based image with Python 3.11+). Default: python:3.12-slim-bookworm.
#               BASE=localhost/debian-bookworm makes that image here first, from Debian's own packages
#               (debootstrap minbase + python3), when it does not exist yet: for machines with no registry.
#   PIP_CERT_FILE  a CA bundle pip in the build should trust (a registry behind a TLS-intercepting proxy):
#               mounted into the build steps only (podman build --volume). PIP_INDEX_URL is passed on too.
#   PLUGINS     plugins/ folders to install besides flaskpypi. Default: every plugin.
#   PODMAN      the podman command with any global flags (e.g. "podman --runtime /usr/sbin/runc").
#   DEBIAN_MIRROR  the mirror for debootstrap; default: the one apt uses here.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-localhost/flaskpypi:latest}
BASE=${BASE:-python:3.12-slim-bookworm}
PLUGINS=${PLUGINS:-$(cd plugins && ls -d flaskpypi-* | sed 's/^flaskpypi-//' | tr '\n' ' ')}
read -r -a PODMAN_CMD <<<"${PODMAN:-podman}"

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(grep -rhoE '^URIs:\s*\S+' /etc/apt/sources.list.d/ 2>/dev/null | awk '{print $2}' | grep -E "/debian/?$" | head -n1 || true)
  [ -z "$uri" ] && uri=$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# A Debian bookworm image with python3 (3.11), made from Debian's packages when no registry is reachable.
if [ "$BASE" = localhost/debian-bookworm ] && ! "${PODMAN_CMD[@]}" image exists "$BASE"; then
  rootfs=$(mktemp -d /var/tmp/flaskpypi-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "== debootstrap bookworm into $rootfs from $(debian_mirror)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$(debian_mirror)" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "${PODMAN_CMD[@]}" import - "$BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

build_args=(--build-arg "BASE=$BASE" --build-arg "PLUGINS=$PLUGINS")
# pip inside the build verifies the registry with the base image's CA bundle; a host whose registry is reached
# through a proxy with its own CA passes that bundle in (mounted for the build only, never part of the image).
if [ -n "${PIP_CERT_FILE:-}" ]; then
  build_args+=(--volume "$(realpath "$PIP_CERT_FILE"):/pip-cert.pem:ro" --build-arg PIP_CERT=/pip-cert.pem)
fi
[ -n "${PIP_INDEX_URL:-}" ] && build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")

echo "== build $TAG from $BASE (plugins: $PLUGINS)"
"${PODMAN_CMD[@]}" build --format docker --network host "${build_args[@]}" -t "$TAG" -f Dockerfile .
