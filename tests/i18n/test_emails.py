"""Emails are written in the recipient's language (the profile's, else the default), subject, text and HTML alike,
with Rupiah and dates in that language; staff alerts in English."""
import pytest

from portal.accounts.services import user_by_email
from portal.extensions import db
from portal.notifications import services
from portal.phrases import N_, nphrase
from portal.unit_of_work import atomic
from tests.helpers import STRONG_PASSWORD, csrf_token_from, message_parts, wait_for_email


@pytest.fixture
def app_config(smtp_server):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "MAIL_TIMEOUT_SECONDS": 3, "MAIL_DEFAULT_SENDER": "Portal <no-reply@portal.test>"}


def _customer(make_user, email: str, locale: str | None):
    user = make_user(email=email, name="Sari Dewi")
    user.locale, user.timezone = locale, "Asia/Jakarta"
    db.session.commit()
    return user


def _receipt(user, key: str):
    with atomic():
        services.email_queue(template="payment_receipt", recipient=user.email, user_id=user.id, key=key,
                             context={"name": user.name, "number": "INV-2026-0001", "item": "Ghost Pro, 30 days",
                                      "amount_idr": 1500000, "paid_at": "2026-08-17T03:05:00+00:00",
                                      "payment_type": "bank transfer", "link": "http://portal.test/billing"})


def test_an_indonesian_customer_gets_the_receipt_in_indonesian(app, make_user, smtp_server):
    user = _customer(make_user, "sari@example.com", "id")
    _receipt(user, "receipt:id")
    message = wait_for_email(smtp_server, "Pembayaran diterima: INV-2026-0001")
    text, html = message_parts(message)
    for part in (text, html):
        assert "Halo Sari Dewi," in part and "Terima kasih — pembayaran Anda sudah kami terima." in part
        assert "Rp1.500.000" in part and "17 Agustus 2026 10:05 WIB" in part and "melalui bank transfer" in part
        assert "Thank you" not in part
    assert '<html lang="id">' in html and "Lihat kuitansi Anda" in html
    assert "Anda menerima email ini karena memiliki akun di Portal." in html


def test_an_english_customer_gets_the_same_receipt_in_english(app, make_user, smtp_server):
    app.config["DEFAULT_LOCALE"] = "id"  # the profile's choice wins over the portal's default
    user = _customer(make_user, "sam@example.com", "en")
    _receipt(user, "receipt:en")
    message = wait_for_email(smtp_server, "Payment received: INV-2026-0001")
    text, html = message_parts(message)
    for part in (text, html):
        assert "Hi Sari Dewi," in part and "Rp1,500,000" in part and "17 August 2026 10:05 WIB" in part
        assert "Terima kasih" not in part
    assert '<html lang="en">' in html and "View your receipt" in html


def test_without_a_profile_choice_the_email_is_in_the_default_language(app, make_user, smtp_server):
    app.config["DEFAULT_LOCALE"] = "id"
    user = _customer(make_user, "tanpa@example.com", None)
    with atomic():
        services.email_queue(template="expiry_reminder", recipient=user.email, user_id=user.id, key="expiry:1",
                             context={"name": user.name, "app_name": "Ghost", "address": "kopi.localtest.me",
                                      "days": 3, "period_end": "2026-12-25T03:00:00+00:00",
                                      "link": "http://portal.test/"})
    text, html = message_parts(wait_for_email(smtp_server, "kopi.localtest.me berakhir dalam 3 hari"))
    assert "Artinya 3 hari lagi." in text and "25 Desember 2026" in text and "Perpanjang sekarang" in html


def test_staff_alerts_are_in_english_whatever_the_default(app, make_user, smtp_server):
    app.config["DEFAULT_LOCALE"] = "id"
    staff = make_user(email="boss@example.com", staff=True)
    staff.locale = "id"
    db.session.commit()
    with atomic():
        services.staff_alert(key="alert:1", title="Node down", message="node-1 stopped answering.")
    text, html = message_parts(wait_for_email(smtp_server, "[Staff] Node down"))
    assert "Sent to every staff member." in html and '<html lang="en">' in html


def test_the_kept_email_page_shows_the_email_in_the_recipients_language(app, make_user, client, login):
    app.config["MAIL_SERVER"] = ""  # a local try-out: the email is kept, and read on the portal
    user = _customer(make_user, "sari@example.com", "id")
    with atomic():
        email = services.email_queue(template="welcome", recipient=user.email, user_id=user.id, key="welcome:1",
                                     context={"name": user.name, "link": "http://portal.test/"})
    login(user)
    page = client.get(f"/mail/{email.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Selamat datang di Portal" in page and "Disimpan oleh portal, tidak dikirim." in page


def test_signing_up_in_indonesian_keeps_that_language_for_the_account_and_its_emails(app, client, smtp_server):
    headers = {"Accept-Language": "id-ID,id;q=0.9"}
    page = client.get("/signup", headers=headers).get_data(as_text=True)
    assert "Buat akun" in page
    response = client.post("/signup", headers=headers, data={
        "csrf_token": csrf_token_from(page), "name": "Sari Dewi", "email": "sari.daftar@example.com",
        "password": STRONG_PASSWORD})
    assert response.status_code == 200
    assert user_by_email("sari.daftar@example.com").locale == "id"
    text, html = message_parts(wait_for_email(smtp_server, "Konfirmasi alamat email Anda"))
    assert "Halo Sari Dewi" in text and '<html lang="id">' in html


def test_reasons_queued_in_english_arrive_in_the_recipients_language(app, make_user, smtp_server):
    """A reason stored in an email's context (a catalog constant, or a phrase with its count) is read when the
    email is written, in the recipient's language."""
    user = _customer(make_user, "wati@example.com", "id")
    base = {"name": user.name, "app_name": "Ghost", "plan_name": "Starter", "address": "wati-blog.example.com",
            "link": "http://portal.test/instances/1"}
    with atomic():
        services.email_queue(template="suspended", recipient=user.email, user_id=user.id, key="suspended:id",
                             context={**base, "reason": N_("the paid period ended without a renewal."),
                                      "delete_on": "2026-12-14T00:00:00+00:00", "renewable": True})
        services.email_queue(template="instance_down", recipient=user.email, user_id=user.id, key="down:id",
                             context={**base, "problem": nphrase(
                                 "Your instance did not come back within %(num)d minute after the restart.",
                                 "Your instance did not come back within %(num)d minutes after the restart.", 5)})
    suspended = wait_for_email(smtp_server, "wati-blog.example.com dihentikan")
    for part in message_parts(suspended):
        assert "masa berbayarnya berakhir tanpa perpanjangan." in part and "paid period" not in part
    down = wait_for_email(smtp_server, "wati-blog.example.com tidak merespons")
    for part in message_parts(down):
        assert "Instans Anda tidak kembali berjalan dalam 5 menit setelah dimulai ulang." in part
        assert "did not come back" not in part
