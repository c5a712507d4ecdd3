"""The revenue chart's text fits inside its SVG as Chromium lays it out (the axis label was cut on the left)."""
import re

import pytest
from playwright.sync_api import Page

from portal.billing.models import Invoice
from portal.extensions import db
from tests.fixtures.billing import notification, post

pytestmark = pytest.mark.browser

OUTSIDE = """() => {
  const svg = document.querySelector('svg');
  const [, , width, height] = svg.getAttribute('viewBox').split(' ').map(Number);
  return [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBBox()])
    .filter(([, b]) => b.x < 0 || b.y < 0 || b.x + b.width > width || b.y + b.height > height)
    .map(([text, b]) => `${text} at x=${b.x.toFixed(1)} w=${b.width.toFixed(1)}`);
}"""


@pytest.mark.parametrize("amount_idr", [79_000, 1_250_000_000])
def test_every_label_of_the_revenue_chart_is_inside_the_picture(app, client, order, make_user, login, page: Page,
                                                                  amount_idr):
    invoice = order("ghost", subdomain="big-spender")
    assert post(app.test_client(), notification(invoice)).status_code == 200
    db.session.get(Invoice, invoice.id).amount_idr = amount_idr
    db.session.commit()
    login(make_user(email="boss@example.com", staff=True))
    for path in ("/admin/", "/admin/reports"):
        svg = re.search(r"<svg.*?</svg>", client.get(path).get_data(as_text=True), re.S).group(0)
        assert "Rp" in svg
        page.set_content(f"<!doctype html><html><body style='margin:0;width:640px'>{svg}</body></html>")
        assert page.evaluate(OUTSIDE) == [], path
