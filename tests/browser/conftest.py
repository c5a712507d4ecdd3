"""Browser fixtures: Debian's Chromium driven by Playwright, and the portal served on loopback."""
import threading

import pytest
from werkzeug.serving import make_server

from tests.helpers import free_port, guard_against_policy_violations

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright cannot download its own browser here; Debian's Chromium serves.
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture
def live_port():
    return free_port()


@pytest.fixture
def app_config(smtp_server, live_port):
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False,
            "FRONTEND_URL": f"http://127.0.0.1:{live_port}"}


@pytest.fixture
def fast_emulated_cluster(kube) -> dict:
    """For journeys that watch an instance come up: the emulated cluster, watched and retried quickly."""
    return {"KUBE_MODE": "emulated", "KUBE_EMULATOR_URL": kube.url, "WATCH_INTERVAL_SECONDS": 0.3,
            "PROVISION_RETRY_BASE_SECONDS": 0.3}


@pytest.fixture
def live_server(app, live_port):
    """The app under test on a real HTTP server in a thread; yields its base URL."""
    server = make_server("127.0.0.1", live_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{live_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def kube():
    """The emulated cluster on the real clock: pods are ready a second after they are scheduled."""
    from emulators.kube import EmulatedCluster

    cluster = EmulatedCluster(ready_delay=1.0, node_count=2).start(host="127.0.0.1", port=0)
    yield cluster
    cluster.stop()


@pytest.fixture(autouse=True)
def no_policy_violations(request):
    """Every journey runs under the real security headers: nothing on our pages may be blocked by them."""
    if "page" not in request.fixturenames:
        yield None
        return
    violations = guard_against_policy_violations(request.getfixturevalue("page"))
    yield violations
    assert violations == [], violations
