#!/usr/bin/env bash
# Stand-in for the official Airflow image's /entrypoint, doing what docker/docker-compose*.yaml rely
# on, in the same order:
#   1. wait for the metadata database (`airflow db check`, CONNECTION_CHECK_MAX_COUNT tries,
#      default 20, CONNECTION_CHECK_SLEEP_TIME seconds apart, default 3; 0 tries: no wait);
#   2. _AIRFLOW_DB_MIGRATE (or _AIRFLOW_DB_UPGRADE) set: `airflow db migrate`;
#   3. _AIRFLOW_WWW_USER_CREATE set: refused (it needs the FAB auth manager, which neither the
#      compose files nor this stand-in use);
#   4. `bash ...` and `python ...` run as given; `airflow X ...` and `X ...` run `airflow X ...`;
#      for `scheduler` and `celery ...` it first waits for the Celery broker's TCP port when
#      AIRFLOW__CELERY__BROKER_URL is set.
set -euo pipefail

command_name="${1:-}"
max_tries="${CONNECTION_CHECK_MAX_COUNT:-20}"
sleep_time="${CONNECTION_CHECK_SLEEP_TIME:-3}"

with_retries() {
    local what="$1"
    shift
    local try=1
    until "$@" >/dev/null 2>&1; do
        if [ "$try" -ge "$max_tries" ]; then
            echo "error: $what is not reachable after $max_tries tries: $*" >&2
            "$@" || true
            exit 1
        fi
        echo "Waiting for $what ($try/$max_tries)" >&2
        try=$((try + 1))
        sleep "$sleep_time"
    done
}

broker_reachable() {
    local url="$AIRFLOW__CELERY__BROKER_URL" host port
    url="${url#*://}"
    url="${url##*@}"
    url="${url%%/*}"
    host="${url%%:*}"
    port=6379
    if [ "$url" != "$host" ]; then port="${url##*:}"; fi
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

if [ "$max_tries" -gt 0 ] && [ "$command_name" != version ]; then
    with_retries "the metadata database" airflow db check
fi
if [ -n "${_AIRFLOW_DB_MIGRATE:-}" ] || [ -n "${_AIRFLOW_DB_UPGRADE:-}" ]; then
    airflow db migrate
fi
if [ -n "${_AIRFLOW_WWW_USER_CREATE:-}" ]; then
    echo "error: _AIRFLOW_WWW_USER_CREATE needs the FAB auth manager, which this stand-in image" \
        "does not have; the compose files use the simple auth manager" >&2
    exit 1
fi
case "$command_name" in
    bash | python)
        shift
        exec "$command_name" "$@"
        ;;
    airflow)
        shift
        command_name="${1:-}"
        ;;
esac
if [[ "$command_name" =~ ^(scheduler|celery)$ ]] && [ -n "${AIRFLOW__CELERY__BROKER_URL:-}" ] \
    && [ "$max_tries" -gt 0 ]; then
    with_retries "the Celery broker" broker_reachable
fi
exec airflow "$@"
