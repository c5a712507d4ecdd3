"""A new customer's journey on the `make run` stack itself: `python -m portal.launcher` with its embedded defaults
(SQLite, the SQLite task queue, the emulated cluster, the payment simulator, no SMTP), driven in Chromium past the
first usage sample through every customer page, with the launcher stopped and started on the way."""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.helpers import STRONG_PASSWORD, free_port

pytestmark = pytest.mark.browser
BIN = os.path.dirname(sys.executable)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMAIL = "sari@example.com"


class Launcher:
    """`make run` in a temporary instance folder: `flask db upgrade` once, then the launcher, stopped by Ctrl-C."""

    def __init__(self, instance_dir, port: int):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.database = instance_dir / "portal.db"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "KUBE_MODE", "KUBE_EMULATOR_URL",
                                 "KUBE_EMULATOR_PORT", "MIDTRANS_SERVER_KEY", "PROMETHEUS_MULTIPROC_DIR",
                                 "FRONTEND_URL")}
        # The launcher's configuration, with the clocks turned up: pods ready in a second, a sweep every second
        # while anything changes, and a usage sample at every sweep (the default is one per 5 minutes).
        self.env.update(PORTAL_INSTANCE_DIR=str(instance_dir), PORT=str(port), FLASK_APP="wsgi.py",
                        KUBE_EMULATOR_READY_DELAY="1", WATCH_INTERVAL_SECONDS="1", SAMPLE_INTERVAL_SECONDS="1")
        self.process = None
        self.lines: list[str] = []
        subprocess.run([os.path.join(BIN, "flask"), "db", "upgrade"], env=self.env, cwd=ROOT, check=True,
                       capture_output=True)

    def start(self) -> "Launcher":
        self.process = subprocess.Popen([sys.executable, "-m", "portal.launcher"], env=self.env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.lines = []
        try:
            return self._started()
        except BaseException:
            os.killpg(self.process.pid, signal.SIGKILL)  # a launcher that never came up is not left running
            self.process.wait(timeout=30)
            self.process = None
            raise

    def _started(self) -> "Launcher":
        banner = threading.Event()
        # Read everything it prints for its whole life: a full pipe would block gunicorn's access log.
        threading.Thread(target=self._read, args=(self.process, banner), daemon=True).start()
        assert banner.wait(60), "the launcher did not start:\n" + "".join(self.lines)
        output = "".join(self.lines)
        self.staff = re.search(r"Staff login: (\S+) / (\S+)", output).groups()
        self.emulator_url = re.search(r"EMULATED Kubernetes API at (\S+)", output).group(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the banner comes a moment after gunicorn is started, not ready
            try:
                if requests.get(self.url + "/login", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise AssertionError("the portal did not answer:\n" + "".join(self.lines))

    def _read(self, process, banner: threading.Event) -> None:
        for line in process.stdout:
            self.lines.append(line)
            if "Press Ctrl-C" in line:
                banner.set()
        banner.set()

    def stop(self) -> None:
        """Ctrl-C, as a terminal sends it to the launcher's process group."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        code, self.process = self.process.wait(timeout=60), None
        assert code == 0, "".join(self.lines)

    def flask(self, *args: str) -> str:
        """A `flask` command beside the running stack (as an operator would run one), on its cluster."""
        done = subprocess.run([os.path.join(BIN, "flask"), *args], cwd=ROOT, capture_output=True, text=True,
                              env={**self.env, "KUBE_EMULATOR_URL": self.emulator_url}, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def query(self, sql: str, *params):
        with sqlite3.connect(self.database, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def wait_for(self, sql: str, *params, timeout: float = 60.0):
        """The first row of a query once it has one (waiting on the portal's own state)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.query(sql, *params)
            if rows and rows[0][0]:
                return rows[0]
            time.sleep(0.2)
        raise AssertionError(f"never true: {sql} {params}")


@pytest.fixture
def launcher(tmp_path):
    stack = Launcher(tmp_path, free_port()).start()
    yield stack
    stack.stop()


def watch_for_failures(page: Page, failures: list[str]) -> None:
    """Any 5xx answer, console error (a CSP violation is one) or uncaught script error fails the journey."""
    page.on("response", lambda response: failures.append(f"{response.status} {response.url}")
            if response.status >= 500 else None)
    page.on("console", lambda message: failures.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: failures.append(f"page error: {error}"))


def test_a_new_customers_journey_on_the_make_run_stack(page: Page, browser, launcher):
    failures: list[str] = []
    watch_for_failures(page, failures)
    base = launcher.url

    # Sign up and confirm the address with the link the portal kept.
    page.goto(base + "/signup")
    page.get_by_label("Full name").fill("Sari Dewi")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # No mail server here: the page says the portal kept the email, and this browser may read it.
    expect(page.get_by_test_id("signup-sent")).to_contain_text("no mail server, so the portal kept the message")
    page.get_by_test_id("kept-mail-link").click()
    expect(page.get_by_text("Kept by the portal")).to_be_visible()
    page.get_by_test_id("kept-mail-action").click()
    expect(page.get_by_text("is confirmed")).to_be_visible()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Hello, Sari Dewi")).to_be_visible()

    # Buy n8n through the payment simulator and watch it come up.
    page.goto(base + "/catalog/n8n")
    page.get_by_test_id("plan-starter").get_by_role("link").click()
    page.get_by_label("Address").fill("sari-flows")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name=re.compile(r"^Pay Rp")).click()
    page.get_by_test_id("simulate-settlement").click()
    expect(page.get_by_test_id("payment-status")).to_contain_text("Paid", timeout=30000)
    page.get_by_role("link", name="Go to your instance").click()
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=60000)  # the page polls until then
    page.get_by_role("navigation").get_by_role("link", name="Dashboard").click()
    card = page.locator("[data-testid^=card-]").first
    expect(card.locator("[data-testid^=health-]")).to_have_text("Running")
    expect(page.get_by_test_id("emulated-note")).to_be_visible()
    sid = launcher.query("SELECT id FROM subscriptions WHERE subdomain = 'sari-flows'")[0][0]

    # Past the first usage sample: the instance page draws it.
    launcher.wait_for("SELECT count(*) FROM resource_samples WHERE subscription_id = ?", sid)
    card.get_by_role("link", name="Details").click()
    expect(page.get_by_test_id("health")).to_have_text("Running")
    expect(page.get_by_text("Resource usage")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile(r"^CPU: now "))).to_be_visible()  # drawn from the sample
    expect(page.get_by_role("img", name=re.compile(r"^Memory: now "))).to_be_visible()
    expect(page.get_by_test_id("emulated-note")).to_be_visible()

    # "Open" leads to the emulated cluster's page for the address.
    with page.context.expect_page() as opened:
        page.get_by_test_id("open").click()
    placeholder = opened.value
    expect(placeholder.get_by_role("heading")).to_contain_text("n8n at sari-flows.localtest.me")
    expect(placeholder.get_by_text("emulated Kubernetes cluster")).to_be_visible()
    placeholder.close()

    # `make run` stopped and started: the instance is still running, and nobody was alerted. The customer has
    # closed the tab meanwhile: a page left open polls a stopped server, and the browser rightly logs every refusal.
    page.goto("about:blank")
    launcher.stop()
    launcher.start()
    launcher.flask("run-job", "instances_sweep")  # the sweep's next round, now rather than at the minute
    page.goto(base + f"/instances/{sid}")
    expect(page.get_by_test_id("health")).to_have_text("Running")
    assert launcher.query("SELECT count(*) FROM emails WHERE template IN ('instance_down', 'staff_alert')") == [(0,)]
    assert launcher.query("SELECT count(*) FROM instance_events WHERE kind = 'health.degraded'") == [(0,)]

    # Logs: follow appends new lines; the download is the log as text.
    page.get_by_role("link", name="Logs").click()
    lines = page.get_by_test_id("log-lines").locator(".log-line")
    expect(lines.first).to_be_visible()
    before = lines.count()
    expect(lines).not_to_have_count(before, timeout=15000)
    with page.expect_download() as download:
        page.get_by_test_id("download").click()
    assert download.value.suggested_filename == "sari-flows-app.log"
    assert os.path.getsize(download.value.path()) > 0
    page.get_by_test_id("follow").uncheck()

    # Settings: change one, applied.
    page.goto(base + f"/instances/{sid}/settings")
    page.get_by_label("Keep execution history for (hours)").fill("48")
    page.get_by_role("button", name="Save and apply").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    # The customer's own rollout: "Applying settings" while it rolls out, the steps on the timeline, no outage.
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=60000)
    expect(page.get_by_test_id("timeline")).to_contain_text("Running again", timeout=60000)

    # Credentials, revealed on request.
    page.get_by_role("button", name="Reveal credentials").click()
    expect(page.get_by_test_id("credentials")).to_be_visible()

    # Restart (its button is outside the polled status block: the page as it is now, settled).
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Restart").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Restart requested.", timeout=15000)
    expect(page.get_by_test_id("health")).to_have_text("Running", timeout=60000)
    assert launcher.query("SELECT count(*) FROM emails WHERE template IN ('instance_down', 'staff_alert')") == [(0,)]

    # Billing: the list, the invoice, its receipt; then the profile.
    page.get_by_role("navigation").get_by_role("link", name="Billing").click()
    row = page.get_by_test_id("invoice-row").first
    expect(row).to_be_visible()
    row.get_by_role("link").first.click()
    expect(page.get_by_test_id("payment-status")).to_contain_text("Paid")
    page.get_by_role("link", name="Receipt").click()
    expect(page.get_by_role("heading", name="Receipt")).to_be_visible()
    page.get_by_test_id("nav-account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    # Cancel, last.
    page.goto(base + f"/instances/{sid}")
    page.get_by_label("Type the address to confirm").fill("sari-flows")
    page.get_by_role("button", name="Cancel now").click()
    expect(page.get_by_text("Its data is kept for")).to_be_visible()
    expect(page.get_by_test_id("health")).to_have_text("Cancelled")

    assert failures == [], failures
