"""The Huey consumer's entry module: `huey_consumer portal.worker.huey` creates the app, which loads every task."""
from portal import create_app
from portal.tasks import huey  # noqa: F401  (the consumer looks it up here)

app = create_app()
