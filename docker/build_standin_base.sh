#!/usr/bin/env bash
# Builds stand-ins for the images that docker/docker-compose*.yaml start, on a machine that reaches
# Debian's package mirror and a Python package index but no image registry:
#
#   1. a Debian bookworm root filesystem made with debootstrap from the Debian mirror (bookworm is
#      the release of the official apache/airflow 3.x images: their BASE_IMAGE is debian:bookworm-slim),
#      imported with `docker import`;
#   2. on it (docker/standin/Dockerfile): the Airflow base (Debian's Python 3.11, Apache Airflow from
#      the package index with this repository's constraints.txt, the official image's airflow user,
#      folders, environment and entrypoint behaviour), Postgres and Redis from Debian's packages.
#
# docker/README.md ("Stand-in base images") lists where they differ from the official images.
#
#   docker/build_standin_base.sh            # prints the variables to give docker compose
#
# Settings (environment):
#   STANDIN_PREFIX       image names' prefix (default airflow-provider-oss-standin)
#   DEBIAN_MIRROR        Debian mirror (default http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR  (default http://deb.debian.org/debian-security)
#   PIP_INDEX_URL        Python package index (default https://pypi.org/simple)
#   STANDIN_CA_BUNDLE    PEM file of the CAs the images trust (default: this machine's bundle,
#                        /etc/ssl/certs/ca-certificates.crt, so that a TLS-intercepting proxy that
#                        this machine trusts works in the build too; Debian's own bundle otherwise)
#   STANDIN_REBUILD=1    build again even when images of the same inputs exist
#
# The images are tagged with a hash of their inputs (this script, docker/standin/, constraints.txt
# and the settings above), so a second run with the same inputs only checks that they exist; the
# Debian root filesystem is made again only when the mirrors or the CA bundle change.
# Needs root (debootstrap), debootstrap and a running Docker engine. The builds use the host's
# network (`--network host`), so they reach the same mirrors as this machine.
set -euo pipefail

cd "$(dirname "$0")/.."
PREFIX="${STANDIN_PREFIX:-airflow-provider-oss-standin}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
PIP_INDEX_URL="${PIP_INDEX_URL:-https://pypi.org/simple}"
CA_BUNDLE="${STANDIN_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
SUITE=bookworm

for tool in debootstrap docker sha256sum; do
    command -v "$tool" >/dev/null || { echo "error: $tool is not installed" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers (docker info failed)" >&2; exit 1; }

# The root filesystem depends on the mirrors and the CAs; the images on it on everything.
settings_hash() {
    {
        echo "$SUITE $DEBIAN_MIRROR $DEBIAN_SECURITY_MIRROR"
        if [ -f "$CA_BUNDLE" ]; then cat "$CA_BUNDLE"; fi
    } | sha256sum | cut -c1-12
}
inputs_hash() {
    {
        settings_hash
        echo "$PIP_INDEX_URL"
        cat docker/build_standin_base.sh constraints.txt
        find docker/standin -type f | LC_ALL=C sort | xargs cat
    } | sha256sum | cut -c1-12
}
TAG="$(inputs_hash)"
DEBIAN_IMAGE="$PREFIX/debian:$SUITE-$(settings_hash)"
AIRFLOW_IMAGE="$PREFIX/airflow:3.3.2-python3.11-$TAG"
POSTGRES_IMAGE="$PREFIX/postgres:15-$TAG"
REDIS_IMAGE="$PREFIX/redis:7-$TAG"

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [ "${STANDIN_REBUILD:-0}" != 1 ] && have_image "$AIRFLOW_IMAGE" && have_image "$POSTGRES_IMAGE" \
    && have_image "$REDIS_IMAGE"; then
    echo "Stand-in images of these inputs exist (tag $TAG): not rebuilt" >&2
else
    if [ "${STANDIN_REBUILD:-0}" = 1 ] || ! have_image "$DEBIAN_IMAGE"; then
        rootfs="$(mktemp -d /var/tmp/standin-rootfs.XXXXXX)"
        trap 'rm -rf "$rootfs"' EXIT
        echo "debootstrap $SUITE from $DEBIAN_MIRROR ..." >&2
        debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$rootfs" "$DEBIAN_MIRROR" \
            > "$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
        rm -f "$rootfs.log"
        cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $SUITE-security main
SOURCES
        if [ -f "$CA_BUNDLE" ]; then
            cp "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
        fi
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        echo "docker import -> $DEBIAN_IMAGE" >&2
        tar -C "$rootfs" -c . | docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
        rm -rf "$rootfs"
        trap - EXIT
    fi
    for target in airflow postgres redis; do
        case "$target" in
            airflow) image="$AIRFLOW_IMAGE" ;;
            postgres) image="$POSTGRES_IMAGE" ;;
            redis) image="$REDIS_IMAGE" ;;
        esac
        echo "docker build --target $target -> $image" >&2
        docker build --quiet --network host -f docker/standin/Dockerfile --target "$target" \
            --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "PIP_INDEX_URL=$PIP_INDEX_URL" \
            -t "$image" . >/dev/null
    done
fi

# What docker/docker-compose.yaml reads to use the stand-ins (eval-able).
echo "AIRFLOW_BASE_IMAGE=$AIRFLOW_IMAGE"
echo "POSTGRES_IMAGE=$POSTGRES_IMAGE"
echo "REDIS_IMAGE=$REDIS_IMAGE"
