import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    full_env = {
        k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        # Production sends SMS through Twilio: its credentials are part of a complete setup.
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="production-token",
        PUBLIC_BASE_URL="https://cabinet.example.fr",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout


def test_production_with_twilio_and_no_credentials_fails_at_start_up(tmp_path):
    result = _manage(
        "check",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    )
    assert result.returncode != 0
    assert "messaging.E001" in result.stderr and "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in result.stderr
    assert "messaging.E002" in result.stderr


def test_twilio_token_can_come_from_a_file(tmp_path):
    token = tmp_path / "token"
    token.write_text("token-from-file\n")
    result = _manage(
        "check",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN_FILE=str(token),
        PUBLIC_BASE_URL="https://cabinet.example.fr",
    )
    assert result.returncode == 0, result.stderr


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = _manage("check", DEBUG="0", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("f" * 10 + "file-secret-with-enough-entropy-abcdefghijklmnop\n")
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        DEBUG="0",
        SECRET_KEY_FILE=str(secret),
        ALLOWED_HOSTS="x",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == secret.read_text().strip()


def test_french_and_paris_by_default(settings):
    assert settings.LANGUAGE_CODE == "fr"
    assert settings.TIME_ZONE == "Europe/Paris"
    assert ("en", "English") in settings.LANGUAGES


def test_tests_run_on_postgresql_under_make_test():
    from django.db import connection

    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert connection.vendor == "postgresql"


def test_production_with_ovh_and_no_credentials_fails_at_start_up(tmp_path):
    result = _manage(
        "check",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        SMS_BACKEND="ovh",
        OVH_APPLICATION_KEY="app-key",
    )
    assert result.returncode != 0
    assert "messaging.E004" in result.stderr
    assert "OVH_APPLICATION_SECRET, OVH_CONSUMER_KEY, OVH_SMS_SERVICE_NAME" in result.stderr
    assert "messaging.E005" in result.stderr and "messaging.E001" not in result.stderr


def test_production_with_ovh_credentials_from_files_starts(tmp_path):
    secrets = {}
    for name in ("OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY", "OVH_SMS_SERVICE_NAME",
                 "OVH_CALLBACK_TOKEN"):
        path = tmp_path / name.lower()
        # The callback token long enough for messaging.E006 (32 characters or more).
        path.write_text(f"{name.lower()}-value-0123456789\n")
        secrets[f"{name}_FILE"] = str(path)
    result = _manage(
        "check",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        SMS_BACKEND="ovh",
        PUBLIC_BASE_URL="https://cabinet.example.fr",
        **secrets,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("token", "base_url", "code"), [
    ("cabinet-du-parc", "https://cabinet.example.fr", "messaging.E006"),
    ("a" * 31, "https://cabinet.example.fr", "messaging.E006"),
    ("Zx8-" * 8, "http://cabinet.example.fr", "messaging.E007"),
])
def test_production_with_ovh_refuses_a_guessable_or_clear_callback_token(tmp_path, token, base_url, code):
    result = _manage(
        "check",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        SMS_BACKEND="ovh",
        OVH_APPLICATION_KEY="app-key", OVH_APPLICATION_SECRET="app-secret", OVH_CONSUMER_KEY="consumer",
        OVH_SMS_SERVICE_NAME="sms-ab12345-1",
        PUBLIC_BASE_URL=base_url,
        OVH_CALLBACK_TOKEN=token,
    )
    assert result.returncode != 0
    assert code in result.stderr
    assert token not in result.stderr  # the check names the setting, never its value


def test_a_deployed_env_naming_the_old_backend_path_still_starts(tmp_path):
    result = _manage(
        "check",
        DEBUG="0",
        SECRET_KEY="k" * 20 + "production-secret-with-enough-entropy-0123456789",
        ALLOWED_HOSTS="cabinet.example.fr",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        SMS_BACKEND="messaging.backends.sms.twilio.SmsBackend",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="production-token",
        PUBLIC_BASE_URL="https://cabinet.example.fr",
    )
    assert result.returncode == 0, result.stderr
