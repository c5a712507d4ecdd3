"""The catalog, checkout, invoice, receipt and simulator pages read in Indonesian for a browser that asks for it."""
import re

import pytest

from portal.billing.models import Invoice
from portal.extensions import db
from portal.timestamps import utcnow
from tests.fixtures.billing import plan_of
from tests.helpers import csrf_token_from

ID = {"Accept-Language": "id"}
HX = {"HX-Request": "true"}


def page(client, url, headers=ID):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


@pytest.mark.smoke
def test_the_catalog_and_a_service_page_read_in_indonesian(client, customer, login):
    login(customer)
    catalog = page(client, "/catalog")
    assert "Pilih aplikasi" in catalog and "Harga sudah termasuk TLS dan pemantauan." in catalog
    assert "/bulan" in catalog and "Choose an app" not in catalog
    service = page(client, "/catalog/ghost")
    assert ">Paket</h2>" in service and "Pilih Starter" in service and "versi " in service
    english = page(client, "/catalog", headers={"Accept-Language": "en"})
    assert "Choose an app" in english and "Pilih aplikasi" not in english


def test_checkout_reads_in_indonesian_from_the_form_to_the_review(client, customer, login):
    login(customer)
    plan = plan_of("ghost")
    form = page(client, f"/checkout/plan/{plan.id}")
    assert "Siapkan Ghost Anda" in form and ">Lanjutkan</button>" in form and ">Alamat</label>" in form
    assert "Huruf kecil, angka, dan tanda hubung" in form and "Paket Starter" in form
    data = {"csrf_token": csrf_token_from(form), "subdomain": "kopi-shop", "mail_from": "", "use_gravatar": "y"}
    review = client.post(f"/checkout/plan/{plan.id}", data=data, headers={**ID, **HX}).get_data(as_text=True)
    assert "Periksa pesanan Anda" in review and "Total bayar" in review and ">Ubah</a>" in review
    assert f"{plan.period_days} hari" in review and "Bayar Rp" in review
    taken = client.post(f"/checkout/plan/{plan.id}", data={**data, "subdomain": "ab"},
                        headers={**ID, **HX}).get_data(as_text=True)
    assert "Periksa pesanan Anda" not in taken and 'data-testid="error-subdomain"' in taken


def test_an_invoice_waiting_paid_and_its_listing_read_in_indonesian(client, customer, login, order):
    invoice = order()
    login(customer)
    waiting = page(client, f"/billing/invoices/{invoice.id}")
    assert "Menunggu pembayaran Anda." in waiting and "Halaman ini diperbarui secara otomatis" in waiting
    assert "Buka simulator pembayaran" in waiting and "Batalkan pesanan ini" in waiting
    assert f"Tagihan {invoice.number}" in waiting and "instans baru" in waiting
    listing = page(client, "/billing")
    assert "<th>Tagihan</th>" in listing and "<th>Status</th>" in listing and "menunggu pembayaran" in listing
    assert "sedang disiapkan" not in listing  # an instance's part is "pending" too, worded otherwise (msgctxt)
    assert ">Bayar</a>" in listing

    db.session.get(Invoice, invoice.id).state = "cancelled"
    db.session.commit()
    cancelled = page(client, f"/billing/invoices/{invoice.id}")
    assert "Status tagihan ini: dibatalkan." in cancelled and "This invoice was" not in cancelled
    english = page(client, f"/billing/invoices/{invoice.id}", headers={})
    assert "This invoice was cancelled." in english


def test_the_simulator_reads_in_indonesian_every_choice_explained(client, customer, login, order):
    invoice = order()
    login(customer)
    simulator = page(client, f"/billing/simulator/{invoice.order_id}")
    assert "Simulator pembayaran." in simulator and "tidak ada uang sungguhan yang berpindah" in simulator
    assert "Kembali ke tagihan tanpa membayar" in simulator and ">Ke dasbor</a>" in simulator
    labels = dict(re.findall(r'data-testid="simulate-(\w+)"[^>]*>\s*<strong>([^<]+)</strong>', simulator))
    assert labels["settlement"] == "Bayar" and labels["deny"] == "Kartu ditolak"
    effects = dict(re.findall(r'data-testid="effect-(\w+)">([^<]+)<', simulator))
    assert "tagihan ditandai gagal" in effects["expire"] and "Anda" in effects["settlement"]
    assert "The payment succeeds" not in simulator


def test_cancelling_an_order_flashes_in_indonesian(client, customer, login, order):
    invoice = order()
    login(customer)
    status = page(client, f"/billing/invoices/{invoice.id}")
    client.post(f"/billing/invoices/{invoice.id}/cancel", data={"csrf_token": csrf_token_from(status)}, headers=ID)
    after = page(client, "/billing")
    assert "Pesanan Anda dibatalkan. Tidak ada biaya yang ditagihkan." in after and "dibatalkan" in after
    token = csrf_token_from(after)
    client.post(f"/billing/invoices/{invoice.id}/cancel", data={"csrf_token": token}, headers=ID)
    refused = page(client, "/billing")
    assert "Hanya pesanan yang menunggu pembayaran yang dapat dibatalkan." in refused


def test_a_receipt_and_a_refused_payment_name_the_method_and_status_in_indonesian(client, customer, login, order):
    invoice = order()
    login(customer)
    row = db.session.get(Invoice, invoice.id)
    row.state, row.midtrans_status = "failed", "deny"
    db.session.commit()
    failed = page(client, f"/billing/invoices/{invoice.id}")
    assert "Pembayaran tidak berhasil" in failed and "(ditolak)" in failed and ">Coba lagi</button>" in failed
    assert "(deny)" in page(client, f"/billing/invoices/{invoice.id}", headers={})

    row = db.session.get(Invoice, invoice.id)
    row.state, row.paid_at, row.payment_type = "paid", utcnow(), "bank_transfer"
    db.session.commit()
    receipt = page(client, f"/billing/invoices/{invoice.id}/receipt")
    assert ">Kuitansi</h1>" in receipt and "Ditagihkan kepada" in receipt and "transfer bank" in receipt
    assert "lunas" in receipt and f"pesanan {row.order_id}" in receipt and ">Cetak</button>" in receipt
    paid = page(client, f"/billing/invoices/{invoice.id}")
    assert "Lunas — instans Anda sedang disiapkan." in paid and "melalui transfer bank" in paid
    assert "Buka instans Anda" in paid
