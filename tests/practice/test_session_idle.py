"""Sessions end after a working day without activity, not 14 days after signing in."""

import datetime as dt
import subprocess
import sys

import pytest
from django.utils import timezone

from tests.practice.test_settings import ROOT, _manage


@pytest.fixture
def clock(monkeypatch):
    """Move the clock the session backend reads (django.utils.timezone.now) forward."""
    real_now = timezone.now
    start = real_now()

    def at(hours: float) -> None:
        monkeypatch.setattr(timezone, "now", lambda: start + dt.timedelta(hours=hours) + (real_now() - start))

    return at


@pytest.mark.django_db
def test_an_idle_session_is_logged_out_and_an_active_one_is_kept(client, assistant, clock, settings):
    assert settings.SESSION_COOKIE_AGE == 10 * 3600 and settings.SESSION_SAVE_EVERY_REQUEST
    client.force_login(assistant)
    clock(0)
    assert client.get("/").status_code == 200
    clock(9)  # nine hours later: still signed in
    assert client.get("/").status_code == 200
    clock(18)  # nine hours after that last request (18 after signing in): activity kept it
    assert client.get("/").status_code == 200
    clock(28.5)  # ten and a half hours without a request: signed out
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")


def test_the_idle_timeout_comes_from_the_environment(tmp_path):
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_AGE, settings.SESSION_SAVE_EVERY_REQUEST)"
    result = _manage("shell", "--no-imports", "-c", code, DEBUG="1", SESSION_IDLE_TIMEOUT_MINUTES="30",
                     DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert result.stdout.split() == ["1800", "True"], result.stderr
    refused = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='practice.settings'; django.setup()"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "SESSION_IDLE_TIMEOUT_MINUTES": "0"},
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode != 0 and "SESSION_IDLE_TIMEOUT_MINUTES must be at least 1" in refused.stderr
