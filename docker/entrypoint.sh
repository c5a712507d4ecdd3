#!/bin/sh
# One image, every role: `web` (gunicorn), `worker` (the Huey consumer), `watcher` (the cluster
# watcher, run as two replicas: one leads through a Lease), `migrate` (schema and
# catalog), `wait-migrations` (until the schema is current); anything else runs as given, e.g.
# `flask create-staff you@example.com`. Works in the image (/app, /opt/venv) and in a checkout.
set -eu

APP_DIR="${APP_DIR:-$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)}"
cd "$APP_DIR"
# The image puts /opt/venv/bin on PATH; a checkout has .venv. An explicit VENV wins.
if [ -n "${VENV:-}" ]; then
    PATH="$VENV/bin:$PATH"
elif ! command -v gunicorn >/dev/null 2>&1; then
    for candidate in /opt/venv "$APP_DIR/.venv"; do
        if [ -x "$candidate/bin/gunicorn" ]; then
            PATH="$candidate/bin:$PATH"
            break
        fi
    done
fi
export PATH
export FLASK_APP="${FLASK_APP:-wsgi}"

schema_is_current() {
    # `flask db current` marks the database's revision "(head)" once every migration is in.
    flask --app "$FLASK_APP" db current 2>/dev/null | grep -q "(head)"
}

command="${1:-web}"
if [ "$#" -gt 0 ]; then
    shift
fi

case "$command" in
    web)
        # SIGTERM: gunicorn stops accepting, finishes requests in flight (--graceful-timeout), exits.
        # Further settings through GUNICORN_CMD_ARGS; FORWARDED_ALLOW_IPS is read by gunicorn itself.
        # No control socket: it would go under $HOME, read-only here, and nothing uses it.
        # The workers' metrics add up through this folder (prometheus_client), emptied at each start.
        export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
        rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        exec gunicorn \
            --no-control-socket \
            --bind "${BIND:-0.0.0.0:${PORT:-8000}}" \
            --workers "${WEB_CONCURRENCY:-2}" \
            --threads "${WEB_THREADS:-4}" \
            --timeout "${WEB_TIMEOUT:-60}" \
            --graceful-timeout "${WEB_GRACEFUL_TIMEOUT:-30}" \
            --access-logfile - \
            "$@" wsgi:app
        ;;
    worker)
        # Docker and Kubernetes stop containers with SIGTERM: make it the consumer's graceful signal
        # (running tasks finish, nothing new starts) and give up on them after the shutdown timeout,
        # below the orchestrator's grace period (worker-deployment.yaml: 90 s; compose: stop_grace_period).
        exec huey_consumer portal.worker.huey \
            --workers "${HUEY_WORKERS:-4}" \
            --worker-type thread \
            --graceful-signal TERM \
            --shutdown-timeout "${HUEY_SHUTDOWN_TIMEOUT:-60}" \
            "$@"
        ;;
    watcher)
        # SIGTERM: the leader hands its Lease back, so the other replica takes over at once.
        exec python -m portal.watcher "$@"
        ;;
    migrate)
        flask --app "$FLASK_APP" db upgrade
        # Idempotent: new catalog apps appear; prices and plans staff changed stay as they are.
        exec flask --app "$FLASK_APP" seed-catalog
        ;;
    wait-migrations)
        deadline=$(( $(date +%s) + ${MIGRATIONS_WAIT_SECONDS:-600} ))
        until schema_is_current; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                echo "The database schema is not at the image's migration head; run \`migrate\` first." >&2
                exit 1
            fi
            echo "Waiting for migrations (the migrate job or service)..." >&2
            sleep "${MIGRATIONS_POLL_SECONDS:-3}"
        done
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
