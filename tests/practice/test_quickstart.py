"""The README's quick start, for real: `make run`'s steps in subprocesses on an empty SQLite file
(migrate, seed_demo, then the web server, and rundemo with its django-q2 cluster)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from practice.demo import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
# The test run's own settings must not leak into the demo: it uses practice.settings like `make run`.
NOT_INHERITED = {
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "SECRET_KEY",
    "SECURE_SSL_REDIRECT",
    "DATABASE_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> str:
    """The body of ``url`` once it answers 200; fails if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server stopped with code {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return response.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def log_in(base: str, username: str) -> str:
    """Sign in through the real login form; return the home page's HTML."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(f"{base}/connexion/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": DEMO_PASSWORD, "next": "/"}
    ).encode()
    request = urllib.request.Request(
        f"{base}/connexion/", data=data, headers={"Referer": f"{base}/connexion/"}
    )
    with opener.open(request, timeout=30) as response:
        assert response.url == f"{base}/", f"login as {username} ended on {response.url}"
        return response.read().decode()


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_group(process: subprocess.Popen) -> None:
    """Cleanup after a failed test: end the process group this test started, and only it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_quick_start_default_demo_then_the_login_page_answers_and_the_demo_logins_work(tmp_path):
    env = demo_env(tmp_path)
    manage(env, "migrate", "--noinput")
    seeded = manage(env, "seed_demo", "--if-empty", timeout=120)
    assert "Démo créée : 2000 patients" in seeded.stdout

    port = free_port()
    # The server's output goes to a file: an unread pipe that fills up would block the server.
    server_log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A test run started as a background job inherits SIGINT ignored; Ctrl-C must stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        page = wait_for(f"{base}/connexion/", server)
        assert 'name="username"' in page and 'name="password"' in page
        assert "Cabinet dentaire du Parc" in page and "Se connecter" in page
        assert "Julie Petit" in log_in(base, "assistante")
        assert "Sophie Lambert" in log_in(base, "admin")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        finally:
            stop_group(server)
            server_log.close()

    # `make run` a second time: the demo is not loaded twice.
    again = manage(env, "seed_demo", "--if-empty")
    assert "n'est pas chargée" in again.stdout


@pytest.fixture
def small_demo_env(tmp_path):
    env = demo_env(tmp_path)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--patients", "60", "--appointments", "200")
    return env


def test_rundemo_serves_the_site_runs_the_scheduler_and_stops_both_on_ctrl_c(small_demo_env, tmp_path):
    env = small_demo_env
    port = free_port()
    # As a shell's background job (`make run &`) is started: with SIGINT ignored, which its
    # children would inherit. Ctrl-C must still stop everything gracefully.
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "rundemo", "--port", str(port)],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/connexion/", demo)
        assert "Se connecter" in page

        # The django-q2 cluster is alive when a task queued through the ORM broker gets done.
        queued = manage(
            env,
            "shell",
            "--no-imports",
            "-c",
            "from django_q.tasks import async_task; print(async_task('scheduler.tasks.heartbeat'))",
        )
        task_id = queued.stdout.strip().splitlines()[-1]
        database = tmp_path / "demo.sqlite3"
        deadline = time.monotonic() + 60
        success = None
        while time.monotonic() < deadline and success is None:
            with sqlite3.connect(database, timeout=20) as db:
                row = db.execute("SELECT success FROM django_q_task WHERE id = ?", (task_id,)).fetchone()
            success = row[0] if row else None
            time.sleep(0.5)
        assert success == 1, "the django-q2 cluster did not run the queued task"

        children = descendants(demo.pid)
        assert len(children) >= 3, "runserver, qcluster and the cluster's workers run under rundemo"
        demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
        sent = time.monotonic()
        output, _ = demo.communicate(timeout=30)
        # rundemo kills a child that has not stopped 15 s after Ctrl-C: stopping well before means
        # both children obeyed the signal.
        assert time.monotonic() - sent < 10, "a child ignored Ctrl-C and had to be killed"
    finally:
        stop_group(demo)
    assert demo.returncode == 0, output
    assert "Démo prête" in output and "assistante" in output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], "a child of rundemo survived Ctrl-C"
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the web server still listens"
