"""In Chromium: the instance page's status poll is answered 304 while nothing changes (the browser's cache hands
htmx its copy, so the page stays as it is), then a change on the cluster is shown by the next poll."""
import time

import pytest
from playwright.sync_api import Page, expect

from portal.instances.sweep import instances_sweep
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(smtp_server, live_port, kube):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "FRONTEND_URL": f"http://127.0.0.1:{live_port}", "KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url}


class Polls:
    """The status block's polls as htmx saw them (page.on("response")) and as they went over the wire (the
    DevTools protocol: the browser reports the cached 200 to the page, the server's own status only there)."""

    def __init__(self, page: Page, path: str):
        self.seen: list[tuple[int, str | None]] = []  # (status, ETag) handed to htmx
        self.ids: list[str] = []  # the polls' request ids, in order
        self.wire: dict[str, int] = {}  # request id -> the status the server sent
        page.on("response", lambda response: self.seen.append((response.status, response.headers.get("etag")))
                if self.is_poll(response.url, response.request.headers) else None)
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", lambda event: self.ids.append(event["requestId"])
               if self.is_poll(event["request"]["url"], event["request"]["headers"]) else None)
        cdp.on("Network.responseReceivedExtraInfo",
               lambda event: self.wire.__setitem__(event["requestId"], event["statusCode"]))
        cdp.send("Network.enable")
        self.path = path

    def is_poll(self, url: str, headers: dict) -> bool:
        return url.endswith(self.path) and any(name.lower() == "hx-request" for name in headers)

    def on_the_wire(self) -> list[int]:
        return [self.wire[request_id] for request_id in self.ids if request_id in self.wire]


def test_an_unchanged_poll_is_304_and_the_page_stays_then_the_change_shows(page: Page, live_server, paid):
    # Paid and provisioned; no sweep runs by itself here, so the instance stays "Setting up" until the test sweeps.
    sid = paid("n8n", subdomain="ana-polls")
    polls = Polls(page, f"/instances/{sid}")

    page.goto(live_server + "/login")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello, Ana Putri")).to_be_visible()
    page.goto(f"{live_server}/instances/{sid}")
    status = page.get_by_test_id("instance-status")
    expect(page.get_by_test_id("health")).to_have_text("Setting up")
    shown = status.inner_html()

    # The first poll renders (200 with a tag); the next ones are answered 304 and htmx gets the cached copy.
    deadline = time.monotonic() + 20
    while polls.on_the_wire().count(304) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert polls.on_the_wire()[0] == 200 and polls.on_the_wire().count(304) >= 2, polls.on_the_wire()
    first_tag = polls.seen[0][1]
    assert first_tag and all(seen == (200, first_tag) for seen in polls.seen), polls.seen
    expect(page.get_by_test_id("health")).to_have_text("Setting up")
    assert status.inner_html() == shown

    instances_sweep()  # the pods are ready on the emulated cluster: the instance becomes active
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=10000)
    assert polls.on_the_wire()[-1] == 286  # rendered anew, and the polling stops
    assert polls.seen[-1][0] == 286 and polls.seen[-1][1] != first_tag, polls.seen
