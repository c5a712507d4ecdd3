"""`make run`'s launcher: migrate, seed a staff login, serve the portal with its worker, stop on Ctrl-C."""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import requests

from tests.helpers import csrf_token_from, free_port

BIN = os.path.dirname(sys.executable)


def test_launcher_serves_sign_up_and_a_working_staff_login(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER")}
    env.update(PORTAL_INSTANCE_DIR=str(tmp_path), PORT=str(port), FLASK_APP="wsgi.py")
    subprocess.run([os.path.join(BIN, "flask"), "db", "upgrade"], env=env, check=True, capture_output=True)
    launcher = subprocess.Popen([sys.executable, "-m", "portal.launcher"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = launcher.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        login_line = next(line for line in lines if "Staff login:" in line)
        email, password = re.search(r"Staff login: (\S+) / (\S+)", login_line).groups()
        assert any(f"http://127.0.0.1:{port}" in line for line in lines)

        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()
        signup = browser.get(base + "/signup", timeout=10)
        assert signup.status_code == 200 and "Create your account" in signup.text
        page = browser.get(base + "/login", timeout=10)
        answer = browser.post(base + "/login", data={"email": email, "password": password,
                                                     "csrf_token": csrf_token_from(page.text)}, timeout=10)
        assert answer.status_code == 200 and "Log out" in answer.text and "Admin" in answer.text
        assert browser.get(base + "/admin/outbox", timeout=10).status_code == 200
        assert any("EMULATED Kubernetes API" in line for line in lines)
        assert "Healthy" in browser.get(base + "/admin/cluster", timeout=10).text

        # A paid order from the shell is provisioned on the emulated cluster and becomes active.
        order = subprocess.run([os.path.join(BIN, "flask"), "order-paid", email, "n8n", "starter", "demo-shop"],
                               env=env, capture_output=True, text=True, timeout=60)
        assert order.returncode == 0, order.stderr
        state = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and state != "active":
            time.sleep(0.5)
            with sqlite3.connect(tmp_path / "portal.db") as db:
                state = db.execute("SELECT state FROM subscriptions WHERE subdomain = 'demo-shop'").fetchone()[0]
        assert state == "active"
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        output = launcher.communicate(timeout=60)[0]
    assert launcher.returncode == 0, "".join(lines) + output
    leftover = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout
    assert leftover.strip() == "", "the web server outlived the launcher"
    # The emulated cluster is kept under the instance folder for the next run (its own tests restart it).
    assert "demo-shop.localtest.me" in (tmp_path / "emulated-cluster.json").read_text()
