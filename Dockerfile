# flaskpypi's container image: `flaskpypi serve` (gunicorn, gthread workers) on 0.0.0.0:6543 as a non-root user.
#
#   podman build -t flaskpypi .                   (or docker build; scripts/build-image.sh wraps both)
#   podman build --build-arg BASE=python:3.13-slim-trixie -t flaskpypi .
#
# BASE is any Debian-based image with Python 3.11+ (python:3.1x-slim, debian:bookworm with python3 ...).
# Configuration is only FLASKPYPI_* variables and an optional config file (FLASKPYPI_CONFIG=/etc/flaskpypi/flaskpypi.toml,
# mounted read-only); the instance folder /var/lib/flaskpypi (a volume) holds the SQLite file, the local packages
# and the generated secret key unless the settings put them elsewhere.
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS build
# Plugins (folders under plugins/) installed beside flaskpypi; pip's usual variables for builds behind a private
# index or a proxy with its own certificate authority (scripts/build-image.sh passes PIP_CERT that way).
ARG PLUGINS="azure gcs ldap s3"
ARG PIP_INDEX_URL
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "flaskpypi needs Python 3.11+ in BASE")'
# Debian's own python3 keeps ensurepip in python3-venv; the python images have it built in.
RUN python3 -m venv /opt/flaskpypi 2>/dev/null || { \
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv \
      && rm -rf /var/lib/apt/lists/* && python3 -m venv --clear /opt/flaskpypi; }
WORKDIR /src
# The dependencies first, in a layer that changes only with the package metadata and the plugins.
COPY setup.cfg pyproject.toml ./
COPY plugins plugins
RUN set -e; mkdir -p flaskpypi; touch README.md flaskpypi/__init__.py; \
    dirs=""; for p in $PLUGINS; do dirs="$dirs ./plugins/flaskpypi-$p"; done; \
    /opt/flaskpypi/bin/pip install --quiet ".[postgres]" $dirs; \
    /opt/flaskpypi/bin/pip uninstall --quiet --yes flaskpypi; \
    rm -rf build flaskpypi.egg-info flaskpypi README.md  # the stub's build tree must not reach the real wheel
# Then flaskpypi itself, built into a wheel and installed.
COPY README.md ./
COPY flaskpypi flaskpypi
RUN /opt/flaskpypi/bin/pip wheel --quiet --no-deps --wheel-dir /wheels . \
    && /opt/flaskpypi/bin/pip install --quiet --no-deps /wheels/flaskpypi-*.whl \
    && /opt/flaskpypi/bin/python -c "import flaskpypi.cli, flaskpypi.serving"

FROM ${BASE}
RUN useradd --user-group --uid 10001 --home-dir /var/lib/flaskpypi --create-home --shell /usr/sbin/nologin flaskpypi \
    && install -d -o flaskpypi -g flaskpypi /var/lib/flaskpypi /etc/flaskpypi
COPY --from=build /opt/flaskpypi /opt/flaskpypi
ENV PATH=/opt/flaskpypi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FLASKPYPI_INSTANCE_PATH=/var/lib/flaskpypi \
    FLASKPYPI_BIND=0.0.0.0:6543
USER flaskpypi
WORKDIR /var/lib/flaskpypi
VOLUME /var/lib/flaskpypi
EXPOSE 6543
# /health answers 200 when the database answers; the port is the first of FLASKPYPI_BIND's.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python3", "-c", "import os, urllib.request; port = os.environ.get('FLASKPYPI_BIND', ':6543').split(',')[0].rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]
ENTRYPOINT ["flaskpypi", "serve"]
