"""The backups page in Indonesian for a browser that asks for it (Accept-Language: id): the page's texts, the
flash after "Back up now", the backup's phase (its data-phase stays Velero's English word) and a refusal."""
import re

import pytest

from portal.backups import services
from portal.extensions import db
from tests.backups.test_backups import failed_restore
from tests.helpers import csrf_token_from, logged_in_client

ID = {"Accept-Language": "id"}


@pytest.mark.smoke
def test_the_backups_page_speaks_indonesian_when_the_browser_asks_for_it(app, running, kube_clock):
    subscription = running("ghost", "starter")
    client = logged_in_client(app, subscription.user)
    url = f"/instances/{subscription.id}/backups"
    page = client.get(url, headers=ID).get_data(as_text=True)
    assert "Instans Anda dicadangkan setiap hari" in page and "Cadangkan sekarang" in page
    assert "Belum ada cadangan: cadangan pertama dibuat malam ini" in page and "Back up now" not in page

    token = csrf_token_from(page)
    assert client.post(url, data={"csrf_token": token}, headers=ID).status_code == 303
    page = client.get(url, headers=ID).get_data(as_text=True)
    assert "Instans Anda sedang dicadangkan." in page and "manual" in page
    kube_clock.advance(6)
    services.backups_sync()
    page = client.get(url, headers=ID).get_data(as_text=True)
    assert 'data-phase="Completed"' in page and ">Selesai</span>" in page and "Pulihkan" in page

    refused = client.post(f"{url}/{_first_backup_id(page)}/restore", data={"csrf_token": token, "confirm": "salah"},
                          headers=ID)
    assert refused.status_code == 303
    page = client.get(url, headers=ID).get_data(as_text=True)
    assert f"Ketik {subscription.subdomain} untuk mengonfirmasi pemulihan." in page
    english = client.get(url).get_data(as_text=True)
    assert ">Completed</span>" in english and "Back up now" in english


def _first_backup_id(page: str) -> int:
    return int(re.search(r'/backups/(\d+)/restore', page).group(1))


@pytest.mark.smoke
def test_a_failed_restore_says_why_in_the_customers_language(app, running, kube, kube_clock, smtp_server):
    """The reason is stored as a phrase: our words in Indonesian, Velero's own words as Velero gave them; the
    page, the timeline and the email read it in the customer's language, the row keeps the English for staff."""
    subscription = running("ghost", "starter")
    subscription.user.locale = "id"
    db.session.commit()
    client, restore = failed_restore(app, subscription, kube, kube_clock)
    assert restore.reason.startswith("the backup service stopped (") and "half-way" in restore.reason

    page = client.get(f"/instances/{subscription.id}/backups", headers=ID).get_data(as_text=True)
    reason = re.search(r'data-testid="restore-reason">(.*?)</div>', page).group(1)
    assert "layanan pencadangan berhenti (" in reason and "half-way" in reason and "backup service" not in reason
    timeline = client.get(f"/instances/{subscription.id}", headers=ID).get_data(as_text=True)
    assert "Pemulihan tidak berhasil: layanan pencadangan berhenti (" in timeline
    assert "Pemulihan dari cadangan " in timeline and " WIB diminta; instans Anda tetap berjalan" in timeline
    mail = [m for m in smtp_server.messages if m["Subject"].startswith("Pemulihan ")]
    assert len(mail) == 1, [m["Subject"] for m in smtp_server.messages]
    text = mail[0].get_body(preferencelist=("plain",)).get_content()
    assert "layanan pencadangan berhenti (" in text and "half-way" in text and " WIB" in text
