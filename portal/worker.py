"""The Huey consumer's entry module: `huey_consumer portal.worker.huey` creates the app, which loads every task."""
from portal import create_app
from portal.tasks import huey  # noqa: F401  (the consumer looks it up here)

app = create_app()

if app.config["WORKER_METRICS_PORT"]:
    # The consumer's own figures (provisioning time...) for Prometheus; the web's /metrics has the rest.
    from prometheus_client import start_http_server

    start_http_server(app.config["WORKER_METRICS_PORT"])
