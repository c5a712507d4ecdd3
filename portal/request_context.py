"""The id of the request (or task) in progress: set by ops for each request, carried by the queue into the tasks
it enqueues, read by the logs and the error pages."""
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
