"""Settings for the test suite: the production settings, with test-only secrets and speed-ups.

The database comes from DATABASE_URL like everywhere else; `make test` points it at a throwaway
PostgreSQL server.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-used-anywhere-else-0123456789abcdef")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
MEDIA_ROOT = Path(os.environ.get("TEST_MEDIA_ROOT", "/tmp/dentcom-test-media"))  # noqa: F405
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
AXES_ENABLED = True
# WhiteNoise serves collected files in production; the tests serve them from the finders.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
SMS_BACKEND = "locmem"
# Per-account email goes to django.core.mail.outbox in tests; SMTP tests switch it back.
MESSAGING_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PUBLIC_BASE_URL = "https://cabinet.example.fr"
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "test-auth-token"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # The test database in a file beside the one named by DATABASE_URL, not in memory: the tests
    # that start real processes (a django-q2 cluster, the demo SMTP server) share it with them, as
    # the demo's processes share db.sqlite3.
    _name = Path(DATABASES["default"]["NAME"])  # noqa: F405
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(_name.with_name(f"test_{_name.name}"))  # noqa: F405
    # Like fsync=off for the throwaway PostgreSQL of `make test`: a test database need not survive
    # a power cut, and each commit waiting for the disk made the suite several times slower.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF"  # noqa: F405
