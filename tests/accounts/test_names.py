"""Names reach email headers and subjects: line breaks and other control characters are refused on every form."""
import pytest
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.notifications.models import Email
from portal.plain_text import has_control_characters
from tests.accounts.test_views import HX, form_token, signup

REFUSED = ["Ana\r\nBcc: victim@example.com", "Ana\nPutri", "Ana\tPutri", "Ana\x07", "Ana\u202eirtuP",
           "Ana\u2028Putri", "Ana\x85Putri", "Ana\ue000"]
ACCEPTED = ["O'Brien-Smith, Jr.", "Nguyễn Thị Ánh", "阮氏映", "محمد", "Ана Путри", "Dr. Siti (Ops) & co.",
            "می\u200cخواهم"]


@pytest.mark.parametrize("name", REFUSED)
def test_control_characters_are_what_is_refused(name):
    assert has_control_characters(name)


@pytest.mark.parametrize("name", ACCEPTED)
def test_punctuation_and_every_script_are_accepted(name):
    assert not has_control_characters(name)


@pytest.mark.parametrize("name", REFUSED[:5])
def test_signup_refuses_a_name_with_control_characters_and_writes_nothing(client, name):
    for headers in ({}, HX):
        response = signup(client, headers=headers, name=name)
        assert response.status_code == 422
        assert "cannot contain line breaks" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id))) == 0
    assert db.session.scalar(select(func.count(Email.id))) == 0


def test_signup_accepts_a_non_latin_name_with_punctuation(client):
    assert signup(client, name="Nguyễn Thị Ánh-O'Brien").status_code == 200
    assert db.session.scalar(select(User.name)) == "Nguyễn Thị Ánh-O'Brien"


@pytest.mark.parametrize("name", REFUSED[:5])
def test_profile_refuses_a_name_with_control_characters(client, make_user, login, name):
    user = make_user()
    login(user)
    response = client.post("/account", data={"name": name, "email": user.email,
                                             "csrf_token": form_token(client, "/account")}, headers=HX)
    assert response.status_code == 422 and "cannot contain line breaks" in response.get_data(as_text=True)
    assert db.session.get(User, user.id).name == "Ana Putri"
