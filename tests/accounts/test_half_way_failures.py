"""Sign-up is one transaction: the account, its two emails and its audit row are written together or not at all."""
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from portal.accounts import services
from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.models import Email
from tests.helpers import STRONG_PASSWORD, queued_tasks, refused_inserts, tasks_held


@pytest.mark.smoke
def test_a_sign_up_whose_audit_row_is_refused_leaves_no_account_and_sends_nothing(app):
    with tasks_held() as queue, refused_inserts("audit_entries"):
        with pytest.raises(DBAPIError):
            services.user_register(name="Ana Putri", email="ana@example.com", password=STRONG_PASSWORD)
        assert sorted(queued_tasks(queue)) == []
    db.session.rollback()
    assert db.session.scalar(select(func.count(User.id))) == 0
    assert db.session.scalar(select(func.count(Email.id))) == 0


def test_a_sign_up_enqueues_its_two_emails_after_the_commit(app):
    with tasks_held() as queue:
        services.user_register(name="Ana Putri", email="ana@example.com", password=STRONG_PASSWORD)
        emails = sorted(db.session.scalars(select(Email.id)))
        assert sorted(queued_tasks(queue)) == [("email_send", (email_id,)) for email_id in emails] and len(emails) == 2
