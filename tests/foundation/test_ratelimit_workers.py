"""Rate limits hold across every web worker on the embedded default (no Redis): counters in a SQLite file."""
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from portal.config import ROOT, from_environment
from portal.ratelimit_storage import SqliteStorage
from tests.helpers import csrf_token_from, free_port

BIN = os.path.dirname(sys.executable)


def test_the_embedded_default_keeps_rate_limits_in_a_file_in_the_instance_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RATELIMIT_STORAGE_URI", raising=False)
    assert from_environment()["RATELIMIT_STORAGE_URI"].startswith("sqlite:///")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    assert from_environment()["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"


def test_two_processes_count_in_one_file(tmp_path):
    uri = f"sqlite:///{tmp_path / 'limits.db'}"
    first, second = SqliteStorage(uri), SqliteStorage(uri)
    assert [first.incr("k", 60), second.incr("k", 60), first.incr("k", 60)] == [1, 2, 3]
    assert second.get("k") == 3 and second.get_expiry("k") > time.time()
    assert first.incr("short", -1) == 1 and first.incr("short", 60) == 1  # a lapsed window starts again
    second.clear("k")
    assert first.get("k") == 0 and first.check()


def test_forty_log_ins_against_two_gunicorn_workers_let_at_most_the_limit_through_and_ctrl_c_stops_them(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "RATELIMIT_STORAGE_URI", "RATELIMIT_ENABLED", "AUTH_RATE_LIMIT")}
    limit = 10
    env.update(PORTAL_INSTANCE_DIR=str(tmp_path), FLASK_APP="wsgi.py", FRONTEND_URL=f"http://127.0.0.1:{port}",
               AUTH_RATE_LIMIT=f"{limit} per minute")
    subprocess.run([os.path.join(BIN, "flask"), "db", "upgrade"], env=env, check=True, capture_output=True)
    # As the launcher serves the embedded default: two workers, four threads each, with gunicorn.conf.py.
    server = subprocess.Popen([os.path.join(BIN, "gunicorn"), "--no-control-socket", "--workers", "2", "--threads", "4",
                               "--bind", f"127.0.0.1:{port}", "wsgi:app"], env=env, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gunicorn.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        page = None
        while time.monotonic() < deadline and page is None:
            try:  # the socket listens before the workers have loaded the app: wait until one answers
                page = requests.get(base + "/login", timeout=10)
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        assert page is not None and page.status_code == 200
        token, cookies = csrf_token_from(page.text), page.cookies.get_dict()

        def log_in(n: int) -> int:
            # A new connection each time, so both workers take their share.
            return requests.post(base + "/login", data={"email": f"guess{n}@example.com", "password": "not it at all",
                                                        "csrf_token": token},
                                 cookies=cookies, headers={"Connection": "close"}, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(log_in, range(40)))
    finally:
        # Ctrl-C's way: SIGINT to every process of the group, so each worker also gets the master's SIGQUIT.
        os.killpg(server.pid, signal.SIGINT)
        asked = time.monotonic()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        stopped_in = time.monotonic() - asked
    through = [status for status in statuses if status != 429]
    assert set(through) == {422} and statuses.count(429) == 40 - len(through)
    assert len(through) <= limit, f"{len(through)} of 40 log-ins got through, the limit is {limit}"
    # Before gunicorn.conf.py, one worker in a few full runs waited on itself for the master's SIGKILL (30 s), and
    # every worker spent seconds in the interpreter's teardown.
    log = (tmp_path / "gunicorn.log").read_text()
    assert stopped_in < 10 and "SIGKILL" not in log, f"gunicorn took {stopped_in:.1f} s to stop:\n{log[-2000:]}"
