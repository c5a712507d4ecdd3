"""The suite's own helpers for deterministic tests (tests/helpers.py): waiting on the queue, not the clock, before
asserting that something did NOT happen; a refusing port that no other test process can take over."""
import socket

import pytest

from portal.tasks import huey
from tests.helpers import refused_port, wait_for_queue_idle

RAN: list[str] = []


@huey.task()
def record(name: str, then: str | None = None) -> None:
    RAN.append(name)
    if then:
        record.schedule((then,), delay=1)  # follow-up work the queue only shows once this task has run


def test_queue_idle_comes_only_after_queued_scheduled_and_follow_up_work_has_run(app, consumer):
    RAN.clear()
    record.schedule(("scheduled",), delay=1)
    record("queued", then="follow-up")
    wait_for_queue_idle(consumer)
    assert sorted(RAN) == ["follow-up", "queued", "scheduled"]
    assert huey.pending_count() == 0 and huey.scheduled_count() == 0


def test_a_refused_port_refuses_and_cannot_be_taken_by_another_server():
    with refused_port() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        with socket.socket() as server, pytest.raises(OSError):  # what an emulator or SMTP server would do
            server.bind(("127.0.0.1", port))
