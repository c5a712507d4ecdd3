"""Staff pages in Indonesian: headings, navigation, table headers, actions and flashes follow the reader's language."""
import pytest

from portal.catalog.selectors import service_templates
from portal.catalog.services import catalog_seed
from tests.fixtures.billing import plan_of
from tests.helpers import csrf_token_from

INDONESIAN = {"Accept-Language": "id"}


def page(client, path: str, headers=None) -> str:
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


@pytest.mark.smoke
def test_staff_pages_read_in_indonesian_when_the_browser_asks(staff_client):
    catalog_seed(templates=service_templates())
    overview = page(staff_client, "/admin/", INDONESIAN)
    assert "<title>Ringkasan" in overview or ">Ringkasan</h1>" in overview
    assert "Pendapatan berulang bulanan" in overview and "Langganan aktif" in overview
    assert ">Kotak keluar email</a>" in overview and ">Log audit</a>" in overview  # the staff navigation
    assert "Monthly recurring revenue" not in overview
    catalog = page(staff_client, "/admin/catalog", INDONESIAN)
    assert "<th>Paket</th>" in catalog and "<th>Sumber daya</th>" in catalog and ">Simpan</button>" in catalog
    assert "<td>Bisnis</td>" in catalog and "/ 30 hari" in catalog  # a plan name from the service template
    assert "Pratinjau manifes" in catalog
    subscriptions = page(staff_client, "/admin/subscriptions", INDONESIAN)
    assert "<th>Pelanggan</th>" in subscriptions and "Semua status" in subscriptions
    assert "berakhir dalam 7 hari" in subscriptions
    audit = page(staff_client, "/admin/audit", INDONESIAN)
    assert "<th>Waktu</th><th>Siapa</th><th>Aksi</th>" in audit and "Log audit hanya dapat dibaca" in audit
    # Without the header the suite's default language (English) is read.
    assert "Monthly recurring revenue" in page(staff_client, "/admin/")


def test_subscription_actions_and_flashes_read_in_indonesian(staff_client, order):
    invoice = order("ghost", subdomain="pesanan-satu")
    path = f"/admin/subscriptions/{invoice.subscription_id}"
    body = page(staff_client, path, INDONESIAN)
    assert "Pesanan belum dibayar" in body and ">Batalkan pesanan</button>" in body
    assert "Alasan pembatalan" in body and "<dt class=\"col-sm-3 col-lg-2\">Pelanggan</dt>" in body
    token = csrf_token_from(body)
    response = staff_client.post(f"{path}/cancel_order", data={"csrf_token": token, "reason": ""},
                                 headers=INDONESIAN)
    after = page(staff_client, response.headers["Location"], INDONESIAN)
    assert "Isi alasannya: alasan ini tampil di linimasa pelanggan dan di log audit." in after
    plan = plan_of("ghost")
    token = csrf_token_from(page(staff_client, "/admin/catalog", INDONESIAN))
    response = staff_client.post(f"/admin/catalog/plans/{plan.id}", data={"csrf_token": token, "price_idr": "abc"},
                                 headers=INDONESIAN)
    assert "Masukkan harga sebagai bilangan bulat rupiah" in page(staff_client, response.headers["Location"],
                                                                  INDONESIAN)


def test_jobs_outbox_and_backups_pages_read_in_indonesian(staff_client):
    jobs = page(staff_client, "/admin/jobs", INDONESIAN)
    assert "Antrean:" in jobs and "Kegagalan tugas terbaru" in jobs and "Belum ada tugas yang dijalankan." in jobs
    outbox = page(staff_client, "/admin/outbox", INDONESIAN)
    assert "<th>Kepada</th>" in outbox and "Tidak ada email." in outbox
    backups = page(staff_client, "/admin/backups", INDONESIAN)
    assert "0 instans" in backups and "Cadangan terakhir yang berhasil" in backups


def test_states_read_in_the_staff_readers_words(staff_client, order):
    """A subscription's, an invoice's and an email's state are words in the reader's language; the stored code
    stays in the filters' values and the data attributes the pages' scripts and tests read."""
    invoice = order("ghost", subdomain="pesanan-dua")
    subscriptions = page(staff_client, "/admin/subscriptions", INDONESIAN)
    assert 'data-state="pending_payment">menunggu pembayaran</span>' in subscriptions
    assert '<option value="provisioning_failed" >penyiapan gagal</option>' in subscriptions
    detail = page(staff_client, f"/admin/subscriptions/{invoice.subscription_id}", INDONESIAN)
    assert 'data-testid="admin-state">menunggu pembayaran</span>' in detail and "pending_payment" not in detail.split(
        'data-testid="admin-state"')[1][:60]
    payment = page(staff_client, f"/admin/payments/{invoice.id}", INDONESIAN)
    assert 'data-state="pending">menunggu pembayaran</span>' in payment
    outbox = page(staff_client, "/admin/outbox", INDONESIAN)
    assert '<option value="queued" >dalam antrean</option>' in outbox
    english = page(staff_client, "/admin/subscriptions")
    assert 'data-state="pending_payment">awaiting payment</span>' in english
