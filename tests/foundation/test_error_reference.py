"""The 500 page names a reference that is the request id on the error's log line."""
import logging
import re

import pytest

from portal.ops.logs import RequestIdFilter


@pytest.fixture
def exploding(app):
    @app.route("/explode-for-reference")
    def explode():
        raise RuntimeError("kaput")
    return "/explode-for-reference"


@pytest.mark.parametrize("headers", [{}, {"X-Request-ID": "proxy-id-42"}, {"HX-Request": "true"}])
def test_the_500_page_shows_the_request_id_of_the_logged_error(client, exploding, caplog, headers):
    caplog.set_level(logging.ERROR, logger="portal.errors")
    caplog.handler.addFilter(RequestIdFilter())
    response = client.get(exploding, headers=headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "kaput" not in body
    shown = re.search(r'data-testid="error-reference">([^<]+)<', body).group(1)
    logged = [record for record in caplog.records
              if record.name == "portal.errors" and record.exc_info and "kaput" in str(record.exc_info[1])]
    assert len(logged) == 1 and logged[0].request_id == shown
    assert response.headers["X-Request-ID"] == shown
    if "X-Request-ID" in headers:
        assert shown == "proxy-id-42"


def test_a_404_shows_no_reference(client):
    body = client.get("/no-such-page").get_data(as_text=True)
    assert "error-reference" not in body
