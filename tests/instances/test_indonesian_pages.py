"""The instance page and the dashboard in Indonesian for a reader who asks for it, in English for one who does
not: the same instance, its badge and parts translated when the page is drawn, whatever was stored."""
import re

import pytest

from portal.accounts.services import user_by_email
from portal.instances.sweep import instances_sweep

pytestmark = pytest.mark.smoke
INDONESIAN = {"Accept-Language": "id-ID,id;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def badges(body: str) -> list[str]:
    return [b.strip() for b in re.findall(r'data-testid="health(?:-\d+)?"[^>]*>([^<]*)<', body)]


def test_a_running_instance_reads_in_the_language_the_reader_asks_for(app, client, paid, login, kube_clock):
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    login(user_by_email("ana@example.com"))

    page = client.get(f"/instances/{sid}", headers=INDONESIAN).get_data(as_text=True)
    assert badges(page) == ["Berjalan"]
    assert ">Kesehatan</h2>" in page and ">Riwayat</h2>" in page
    assert ">Mulai ulang</button>" in page and ">Batalkan sekarang</button>" in page
    component = re.search(r'data-testid="component-app".*?</div>', page, re.S).group(0)
    assert "Aplikasi" in component and ">siap<" in component
    days = app.config["RETENTION_DAYS"]
    assert f"Datanya dihapus setelah {days} hari" in page
    assert "Running" not in badges(page) and ">Health</h2>" not in page

    fragment = client.get(f"/instances/{sid}", headers={**INDONESIAN, "HX-Request": "true"}).get_data(as_text=True)
    assert badges(fragment) == ["Berjalan"]
    assert badges(client.get("/", headers=INDONESIAN).get_data(as_text=True)) == ["Berjalan"]

    english = client.get(f"/instances/{sid}", headers=ENGLISH).get_data(as_text=True)
    assert badges(english) == ["Running"] and ">Health</h2>" in english and "Kesehatan" not in english


def test_the_logs_page_and_the_catalog_read_in_indonesian(client, paid, login, kube_clock):
    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    login(user_by_email("ana@example.com"))
    logs = client.get(f"/instances/{sid}/logs", headers=INDONESIAN).get_data(as_text=True)
    assert '<h1 class="h4 mb-3">Log</h1>' in logs and ">Ikuti baris baru</label>" in logs and ">Unduh</a>" in logs
    catalog = client.get("/catalog", headers=INDONESIAN).get_data(as_text=True)
    assert ">Pilih aplikasi</h1>" in catalog and "/bulan" in catalog


def test_a_pending_part_is_being_set_up_not_awaiting_payment(client, paid, login, kube_clock):
    """"pending" is an invoice's state and a part's phase: Indonesian words each in its own way (msgctxt)."""
    from portal.extensions import db
    from portal.subscriptions.models import InstanceStatus

    sid = paid("n8n", subdomain="ana-flows")
    kube_clock.advance(30)
    instances_sweep()
    login(user_by_email("ana@example.com"))
    status = db.session.get(InstanceStatus, sid)
    status.ready = False
    status.components = {"app": {"phase": "Pending", "ready": False}, "db": {"phase": "Running", "ready": True}}
    db.session.commit()

    page = client.get(f"/instances/{sid}", headers=INDONESIAN).get_data(as_text=True)
    component = re.search(r'data-testid="component-app".*?</div>', page, re.S).group(0)
    assert ">sedang disiapkan<" in component and "menunggu pembayaran" not in component
    # The page says it once, on the timeline ("Order created, awaiting payment."), never as a part's state.
    assert page.count("menunggu pembayaran") == 1 and "Pesanan dibuat, menunggu pembayaran." in page
    english = client.get(f"/instances/{sid}", headers=ENGLISH).get_data(as_text=True)
    assert ">pending<" in re.search(r'data-testid="component-app".*?</div>', english, re.S).group(0)
