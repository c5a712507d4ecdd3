"""Which language a page is in: the profile, else the switcher's cookie, else Accept-Language, else the default
(Indonesian); the footer switcher sets the cookie and returns only to a local path."""
import pytest

from portal.accounts.models import User
from portal.extensions import db
from tests.helpers import csrf_token_from

ID = {"Accept-Language": "id-ID,id;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def lang_of(page: str) -> str:
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


@pytest.mark.smoke
def test_a_guest_reads_the_login_page_in_the_browsers_language(client):
    indonesian = client.get("/login", headers=ID).get_data(as_text=True)
    assert lang_of(indonesian) == "id"
    assert "Masuk" in indonesian and "Lupa kata sandi?" in indonesian and "Log in" not in indonesian
    english = client.get("/login", headers=EN).get_data(as_text=True)
    assert lang_of(english) == "en" and "Forgot password?" in english


def test_without_any_choice_the_default_is_indonesian(app, client):
    app.config["DEFAULT_LOCALE"] = "id"
    page = client.get("/login", headers={"Accept-Language": "fr-FR"}).get_data(as_text=True)
    assert lang_of(page) == "id" and "Lupa kata sandi?" in page


def test_the_cookie_beats_accept_language(client):
    client.set_cookie("locale", "en")
    assert lang_of(client.get("/login", headers=ID).get_data(as_text=True)) == "en"
    client.set_cookie("locale", "xx")  # not a language the portal speaks: ignored
    assert lang_of(client.get("/login", headers=ID).get_data(as_text=True)) == "id"


def test_the_profile_beats_the_cookie(client, make_user, login):
    user = make_user()
    user.locale = "id"
    db.session.commit()
    login(user)
    client.set_cookie("locale", "en")
    page = client.get("/account", headers=EN).get_data(as_text=True)
    assert lang_of(page) == "id" and "Akun Anda" in page and "Simpan profil" in page


def _switch(client, locale: str, next_path: str, **headers):
    token = csrf_token_from(client.get("/login", headers=headers).get_data(as_text=True))
    return client.post("/language", data={"csrf_token": token, "locale": locale, "next": next_path}, headers=headers)


def test_the_switcher_sets_the_cookie_for_a_year_and_returns_to_the_page(client):
    response = _switch(client, "id", "/catalog?app=ghost", **EN)
    assert response.status_code == 303 and response.headers["Location"] == "/catalog?app=ghost"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("locale=id;") and "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
    assert lang_of(client.get("/login", headers=EN).get_data(as_text=True)) == "id"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", ""])
def test_the_switcher_returns_only_to_a_local_path(client, target):
    response = _switch(client, "en", target, **ID)
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_the_switcher_refuses_an_unknown_language_and_a_post_without_csrf(client):
    response = _switch(client, "fr", "/login", **EN)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert not any(cookie.startswith("locale=") for cookie in response.headers.getlist("Set-Cookie"))
    assert client.post("/language", data={"locale": "id", "next": "/login"}).status_code == 400


def test_a_signed_in_customer_switching_saves_the_profile(client, make_user, login):
    user = make_user()
    login(user)
    token = csrf_token_from(client.get("/account", headers=EN).get_data(as_text=True))
    response = client.post("/language", data={"csrf_token": token, "locale": "id", "next": "/account"})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert db.session.get(User, user.id).locale == "id"
    page = client.get("/account", headers=EN).get_data(as_text=True)
    assert lang_of(page) == "id" and "Halaman dan email kini dalam Bahasa Indonesia." in page
    # The profile's language card shows the choice.
    assert 'lang="id" selected value="id"' in page


def test_form_errors_and_flashes_are_in_the_readers_language(client):
    page = client.get("/signup", headers=ID).get_data(as_text=True)
    response = client.post("/signup", headers=ID, data={"csrf_token": csrf_token_from(page), "name": "",
                                                        "email": "x" * 250 + "@example.com", "password": ""})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Mohon isi nama Anda." in body and "Mohon buat kata sandi." in body
    assert "Gunakan maksimal 254 karakter." in body  # WTForms' own Length message, given in our catalog
    login_page = client.get("/account", headers=ID, follow_redirects=True).get_data(as_text=True)
    assert "Silakan masuk untuk melanjutkan." in login_page


def test_error_pages_are_translated(client):
    page = client.get("/no-such-page", headers=ID)
    assert page.status_code == 404 and "Halaman tidak ditemukan" in page.get_data(as_text=True)


def test_a_form_sent_without_its_csrf_token_is_refused_in_the_readers_language(client):
    """An expired or missing token (CSRFProtect refuses it before the view): the error page, translated."""
    indonesian = client.post("/login", headers=ID, data={"email": "ana@example.com", "password": "x"})
    body = indonesian.get_data(as_text=True)
    assert indonesian.status_code == 400 and lang_of(body) == "id"
    assert "Permintaan tidak valid" in body and "terkirim tanpa token keamanannya" in body
    assert "security token" not in body and "CSRF token" not in body
    english = client.post("/login", headers=EN, data={"email": "ana@example.com", "password": "x"})
    assert english.status_code == 400 and "sent without its security token" in english.get_data(as_text=True)
