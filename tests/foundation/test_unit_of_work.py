"""One transaction per use case: the outermost commits once, nested ones join it, follow-ups wait for the commit."""
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from portal.audit.models import AuditEntry
from portal.audit.services import audit_record
from portal.extensions import db
from portal.unit_of_work import after_commit, atomic, follow_up_handler, use_case

started: list[dict] = []


def _noted(**arguments) -> None:
    # What this follow-up sees of the database when it runs: a worker must find the committed row.
    with db.engine.connect() as other_connection:
        arguments["rows_seen_elsewhere"] = other_connection.scalar(select(func.count(AuditEntry.id)))
    started.append(arguments)


follow_up_handler("test.noted", _noted)


class Refused(Exception):
    pass


class Kept(Exception):
    pass


@use_case
def inner(*, action: str) -> None:
    audit_record(action=action, actor_id=None)
    after_commit("test.noted", action=action)


@use_case
def outer(*, fail_between: bool = False) -> None:
    inner(action="first")
    if fail_between:
        raise Refused()
    inner(action="second")


@use_case(keep_on=(Kept,))
def kept_despite(*, action: str) -> None:
    inner(action=action)
    raise Kept()


@pytest.fixture
def commits(app):
    counted = []

    def count(session):
        counted.append(1)

    event.listen(db.session, "after_commit", count)
    started.clear()
    yield counted
    event.remove(db.session, "after_commit", count)


def _actions() -> list[str]:
    db.session.rollback()
    return sorted(db.session.scalars(select(AuditEntry.action)))


def test_nested_use_cases_commit_once_and_then_start_their_follow_ups(commits):
    outer()
    assert len(commits) == 1
    assert _actions() == ["first", "second"]
    assert started == [{"action": "first", "rows_seen_elsewhere": 2}, {"action": "second", "rows_seen_elsewhere": 2}]


def test_a_failure_between_steps_writes_nothing_and_starts_nothing(commits):
    with pytest.raises(Refused):
        outer(fail_between=True)
    assert commits == []
    assert _actions() == []
    assert started == []


def test_the_same_follow_up_twice_in_one_transaction_starts_once(commits):
    with atomic():
        inner(action="again")
        after_commit("test.noted", action="again")
    assert [s["action"] for s in started] == ["again"]


def test_an_outcome_worth_keeping_commits_and_starts_its_follow_ups_before_it_is_raised(commits):
    with pytest.raises(Kept):
        kept_despite(action="kept")
    assert _actions() == ["kept"]
    assert [s["action"] for s in started] == ["kept"]


def test_a_failing_commit_starts_nothing(commits, make_user):
    user = make_user()
    with pytest.raises(IntegrityError):
        with atomic():
            inner(action="lost")
            # A real constraint violation, met at the commit's flush: a second account with the same address.
            from portal.accounts.models import User
            db.session.add(User(email=user.email, name="Twin", password_hash="x"))
    assert _actions() == []
    assert started == []


def test_follow_up_work_outside_a_use_case_is_refused(app):
    with pytest.raises(RuntimeError):
        after_commit("test.noted", action="nobody commits this")


def test_the_next_use_case_does_not_start_what_a_rolled_back_one_recorded(commits):
    with pytest.raises(Refused):
        outer(fail_between=True)
    inner(action="later")
    assert [s["action"] for s in started] == ["later"]
