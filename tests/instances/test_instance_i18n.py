"""The instance page, its logs and the dashboard in Indonesian for a reader whose browser asks for it (issue 23)."""
import pytest
from babel.dates import format_date
from sqlalchemy import select

from portal.accounts.services import user_by_email
from portal.admin.services import staff_extend
from portal.billing.services import subscription_renewal_paid as renewal_paid
from portal.extensions import db
from portal.instances.sweep import PROBLEMS
from portal.rendering import display_zone
from portal.subscriptions.models import InstanceEvent, InstanceStatus, Subscription
from portal.subscriptions.rollouts import instance_rollout_failed, instance_rollout_start
from portal.unit_of_work import atomic
from tests.helpers import csrf_token_from

ID = {"Accept-Language": "id"}
HX = {"HX-Request": "true"}


@pytest.mark.smoke
def test_instance_page_reads_in_indonesian(app, client, live):
    days = app.config["RETENTION_DAYS"]
    body = client.get(f"/instances/{live}", headers=ID).get_data(as_text=True)
    for text in ('data-testid="health">Berjalan</span>', "Paket Starter", "Kesehatan", "Aplikasi", "Riwayat",
                 "Pemakaian sumber daya, 6 jam terakhir", "Tampilkan kredensial", "Batalkan sekarang",
                 f"Datanya dihapus setelah {days} hari", "Ketik <strong>ana-flows</strong> untuk mengonfirmasi.",
                 'hx-confirm="Mulai ulang ana-flows? Instans tidak dapat diakses selama sekitar satu menit."',
                 ">Pengaturan</a>", ">Cadangan</a>", ">Log</a>", "Memori · sekarang", "(batas)",
                 # The timeline, stored in English, read in Indonesian: fixed texts and ones with a value.
                 "Instans Anda sudah siap.", "Namespace disiapkan.", "Dijadwalkan di emulated-node-"):
        assert text in body, text
    for english in ("Reveal credentials", "Resource usage", ">Running<", "Cancel now"):
        assert english not in body, english
    # The same page in English for an English browser: the catalog changes nothing there.
    english = client.get(f"/instances/{live}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-testid="health">Running</span>' in english and "Reveal credentials" in english


def test_instance_flash_and_log_viewer_read_in_indonesian(client, live):
    page = client.get(f"/instances/{live}", headers=ID).get_data(as_text=True)
    client.post(f"/instances/{live}/cancel", headers=ID,
                data={"csrf_token": csrf_token_from(page), "mode": "now", "confirm": "not-it"})
    after = client.get(f"/instances/{live}", headers=ID).get_data(as_text=True)
    assert "Ketik alamat instans untuk mengonfirmasi pembatalan sekarang." in after

    logs = client.get(f"/instances/{live}/logs", headers=ID).get_data(as_text=True)
    for text in ("<title>Log", ">Bagian</label>", ">Baris</label>", ">100 terakhir</option>", ">Cari</label>",
                 'placeholder="Saring baris"', "Sebelum gangguan terakhir", ">Unduh</a>", "Ikuti baris baru",
                 ">Aplikasi</option>", ">Basis data</option>"):
        assert text in logs, text
    nothing = client.get(f"/instances/{live}/logs?q=no-such-text-anywhere", headers={**ID, **HX})
    assert "Tidak ada baris yang cocok dengan pencarian Anda." in nothing.get_data(as_text=True)
    previous = client.get(f"/instances/{live}/logs?previous=1", headers={**ID, **HX}).get_data(as_text=True)
    assert "kontainer ini belum pernah dimulai ulang" in previous


def test_settings_page_reads_in_indonesian(client, live):
    body = client.get(f"/instances/{live}/settings", headers=ID).get_data(as_text=True)
    for text in ("<h1 class=\"h4\">Pengaturan</h1>", "Simpan dan terapkan", "Server SMTP", "Nama pengguna",
                 "Kirim email uji", "Kosongkan jika server tidak memerlukan login."):
        assert text in body, text
    refused = client.post(f"/instances/{live}/mail", headers=ID,
                          data={"csrf_token": csrf_token_from(body), "host": "", "port": "587", "tls_mode": "starttls",
                                "sender": "hello@example.com"})
    assert refused.status_code == 422
    assert "Masukkan nama host server email, misalnya smtp.example.com." in refused.get_data(as_text=True)


def test_dashboard_reads_in_indonesian_and_escapes_the_name(client, live):
    user = user_by_email("ana@example.com")
    user.name = "Ana <b>Putri</b>"
    db.session.commit()
    body = client.get("/", headers=ID).get_data(as_text=True)
    assert "Halo, Ana &lt;b&gt;Putri&lt;/b&gt;" in body and "<b>Putri</b>" not in body
    for text in (f'data-testid="health-{live}">Berjalan</span>', "Tambah aplikasi", ">Buka</a>", ">Detail</a>",
                 "diperpanjang dalam"):
        assert text in body, text
    assert "renews in" not in body


def test_landing_reads_in_indonesian(client):
    body = client.get("/", headers=ID).get_data(as_text=True)
    for text in ("Hosting terkelola, ditagih dalam Rupiah", "Mulai sekarang", "Bayar dengan Midtrans",
                 "Pembuat situs web yang paling banyak digunakan di dunia."):
        assert text in body, text


def test_timeline_texts_with_values_and_a_parts_problem_read_in_each_language(app, client, live, make_user):
    """What the portal stored with values (a renewal's day, a staff extension's count, a failed restart's reason
    from the cluster) and a part's problem are read in the reader's language; outside words stay as they came."""
    staff = make_user(email="ops@example.com", staff=True)
    renewal_paid(subscription_id=live, period_days=30)
    staff_extend(subscription_id=live, days=1, reason="goodwill", actor_id=staff.id)
    staff_extend(subscription_id=live, days=3, reason="goodwill", actor_id=staff.id)
    with atomic():
        instance_rollout_start(subscription_id=live, kind="restart")
        instance_rollout_failed(subscription_id=live, reason="Forbidden: quota <exceeded>")
        status = db.session.get(InstanceStatus, live)
        status.components = {**status.components, "app": {"phase": "Running", "ready": False, "restarts": 4,
                                                          "problem": PROBLEMS["CrashLoopBackOff"]}}
    end = db.session.get(Subscription, live).current_period_end

    body = client.get(f"/instances/{live}", headers=ID).get_data(as_text=True)
    with app.test_request_context(headers=ID):
        day = format_date(end.astimezone(display_zone()).date(), "dd MMM y", locale="id")
    for text in ("Diperpanjang 1 hari hingga", "Diperpanjang 3 hari hingga " + day, "Mulai ulang diminta.",
                 "Mulai ulang tidak dapat dilakukan: Forbidden: quota &lt;exceeded&gt;. Tim kami sudah diberi tahu.",
                 "Aplikasi terus berhenti mendadak dan memulai ulang."):
        assert text in body, text
    assert "Extended by" not in body and "keeps crashing" not in body and "<exceeded>" not in body

    english = client.get(f"/instances/{live}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for text in ("Extended by 1 day to", "Extended by 3 days to", "The app keeps crashing and restarting.",
                 "The restart could not be done: Forbidden: quota &lt;exceeded&gt;. Our team has been told."):
        assert text in english, text
    # The English stays on the row for staff's logs and searches.
    messages = set(db.session.scalars(select(InstanceEvent.message).where(InstanceEvent.subscription_id == live)))
    assert "Extended by 3 days to " + f"{end:%Y-%m-%d}." in messages


def test_wtforms_built_in_messages_read_in_the_readers_language(client, live):
    """WTForms' own messages (it ships no Indonesian) come from our wtforms catalog; English stays WTForms' own."""
    def refused(language: str) -> str:
        page = client.get(f"/instances/{live}/settings", headers={"Accept-Language": language}).get_data(as_text=True)
        answer = client.post(f"/instances/{live}/mail", headers={"Accept-Language": language},
                             data={"csrf_token": csrf_token_from(page), "host": "smtp.example.com",
                                   "port": "five-eight-seven", "tls_mode": "carrier-pigeon",
                                   "sender": "hello@example.com"})
        assert answer.status_code == 422
        return answer.get_data(as_text=True)

    indonesian = refused("id")
    assert 'data-testid="error-port">Masukkan bilangan bulat.</div>' in indonesian
    assert 'data-testid="error-tls_mode">Pilihan tidak valid.</div>' in indonesian
    assert "Not a valid integer value." not in indonesian and "Not a valid choice." not in indonesian
    english = refused("en")
    assert 'data-testid="error-port">Not a valid integer value.</div>' in english
    assert 'data-testid="error-tls_mode">Not a valid choice.</div>' in english


def test_a_settings_value_the_template_refuses_is_explained_in_indonesian(client, live):
    """The parameters' own rules (catalog.parameters) speak the reader's language too."""
    def refused(language: str) -> str:
        page = client.get(f"/instances/{live}/settings", headers={"Accept-Language": language}).get_data(as_text=True)
        answer = client.post(f"/instances/{live}/settings", headers={"Accept-Language": language},
                             data={"csrf_token": csrf_token_from(page), "execution_retention_hours": "a week"})
        assert answer.status_code == 422
        return answer.get_data(as_text=True)

    indonesian = refused("id")
    assert 'data-testid="error-execution_retention_hours">Masukkan bilangan bulat.</div>' in indonesian
    assert "Enter a whole number." not in indonesian
    assert 'data-testid="error-execution_retention_hours">Enter a whole number.</div>' in refused("en")
