"""The domains page in Indonesian for a browser that asks for it (Accept-Language: id), English otherwise: the
page's texts, a refusal's reason, the flash after adding, the records' purposes and the certificate state."""
import pytest
from sqlalchemy import select

from portal.domains import services
from portal.domains.models import CustomDomain
from portal.extensions import db
from tests.domains.dns_records import point_dns
from tests.helpers import csrf_token_from

pytestmark = pytest.mark.smoke
ID = {"Accept-Language": "id"}
HX_ID = {**ID, "HX-Request": "true"}


@pytest.fixture
def ana(live, logged_in):
    return live("ghost", plan_slug="pro"), logged_in()


def _post(client, url, data):
    token = csrf_token_from(client.get("/account").get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, headers=HX_ID)


def test_the_domains_page_speaks_indonesian_when_the_browser_asks_for_it(ana):
    sid, client = ana
    page = client.get(f"/instances/{sid}/domains", headers=ID).get_data(as_text=True)
    assert "Domain kustom" in page and "0 dari 3 pada paket ini" in page and "Belum ada domain kustom." in page
    assert "Tambah domain" in page and "Instans Anda selalu dapat diakses di <strong>" in page
    assert "No custom domain yet." not in page and "Add domain" not in page
    english = client.get(f"/instances/{sid}/domains").get_data(as_text=True)
    assert "No custom domain yet." in english and "Belum ada domain kustom." not in english


def test_a_refusal_and_an_added_domain_read_in_indonesian(ana):
    sid, client = ana
    refused = _post(client, f"/instances/{sid}/domains", {"name": "*.toko-ana.id"})
    assert refused.status_code == 422
    assert "Domain wildcard (*.example.com) tidak didukung" in refused.get_data(as_text=True)
    added = _post(client, f"/instances/{sid}/domains", {"name": "blog.toko-ana.id"})
    body = added.get_data(as_text=True)
    assert added.status_code == 200
    assert "blog.toko-ana.id ditambahkan. Buat record DNS di bawah ini" in body
    assert "Buat record berikut di penyedia DNS Anda:" in body and "membuktikan bahwa domain ini milik Anda" in body
    assert "mengarahkan domain ke instans Anda" in body and "Sertifikat: Menunggu DNS" in body
    assert 'data-dns="pending"' in body and "Hapus blog.toko-ana.id?" in body
    english = client.get(f"/instances/{sid}/domains").get_data(as_text=True)
    assert "Certificate: Waiting for DNS" in english and "proves the domain is yours" in english


def test_the_dns_check_findings_read_in_each_readers_language(ana, dns_zone):
    """Findings are stored once (as phrases) and read in the reader's language, values as found in DNS."""
    sid, client = ana
    _post(client, f"/instances/{sid}/domains", {"name": "blog.toko-ana.id"})
    point_dns(dns_zone, "blog.toko-ana.id", cname="elsewhere.example.net")
    domain = db.session.scalar(select(CustomDomain).where(CustomDomain.name == "blog.toko-ana.id"))
    assert services.domain_dns_check(domain_id=domain.id) == "pending"
    page = client.get(f"/instances/{sid}/domains", headers=ID).get_data(as_text=True)
    assert "Belum ada record TXT _portal-verify.blog.toko-ana.id dengan nilai verifikasi." in page
    assert "blog.toko-ana.id adalah CNAME ke elsewhere.example.net, bukan ke ana-blog.localtest.me." in page
    assert "No TXT record" not in page
    english = client.get(f"/instances/{sid}/domains").get_data(as_text=True)
    assert "blog.toko-ana.id is a CNAME to elsewhere.example.net, not to ana-blog.localtest.me." in english
    # Staff's list reads them in the staff reader's language too; the English stays for logs and search.
    db.session.expire_all()
    assert "is a CNAME to elsewhere.example.net" in db.session.get(CustomDomain, domain.id).dns_problem


def test_a_failing_certificates_try_again_and_its_refusal_read_in_indonesian(ana, kube, kube_clock, dns_zone):
    from portal.provisioning import services as provisioning

    sid, client = ana
    kube.certificate_fails("shop.toko-ana.id", "CAA record forbids letsencrypt.org")
    _post(client, f"/instances/{sid}/domains", {"name": "shop.toko-ana.id"})
    domain = db.session.scalar(select(CustomDomain).where(CustomDomain.name == "shop.toko-ana.id"))
    point_dns(dns_zone, "shop.toko-ana.id", cname="ana-blog.localtest.me", token=domain.token)
    assert services.domain_dns_check(domain_id=domain.id) == "verified"
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    page = client.get(f"/instances/{sid}/domains", headers=HX_ID).get_data(as_text=True)
    assert "Sertifikat: Gagal" in page and "CAA record forbids letsencrypt.org" in page
    assert ">Coba lagi</button>" in page
    assert "Setelah Anda memperbaiki penyebabnya, cobalah lagi sekarang. cert-manager juga akan mencoba lagi" in page
    assert "Try again" not in page and "tries again by itself" not in page

    kube.certificate_failures_clear()
    url = f"/instances/{sid}/domains/{domain.id}/certificate"
    asked = _post(client, url, {}).get_data(as_text=True)
    assert "Sertifikat baru untuk shop.toko-ana.id sedang dimintakan; halaman ini akan menampilkan hasilnya" in asked
    refused = _post(client, url, {}).get_data(as_text=True)
    assert "Permintaan sertifikat baru untuk shop.toko-ana.id sudah berjalan; halaman ini akan menampilkan " \
           "hasilnya." in refused and "already being requested" not in refused
    kube_clock.advance(10)
    provisioning.instance_certificates_read(subscription_id=sid)
    refused = _post(client, url, {}).get_data(as_text=True)
    assert "Sertifikat untuk shop.toko-ana.id tidak sedang gagal: tidak ada yang perlu dicoba lagi." in refused
    assert "is not failing" not in refused
