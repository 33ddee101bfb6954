"""Settings of `make bench` only: the test settings (locmem SMS, throwaway PostgreSQL) plus
django-post-office for the comparison. Never imported by the application."""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789abcdef")

from practice.settings_test import *  # noqa: E402,F403

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]  # noqa: F405
# The bench sends real SMTP to postfix's smtp-sink on loopback.
MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
POST_OFFICE = {"BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"}}
# Dispatch is called by the bench itself, not queued to django-q2.
Q_CLUSTER = {**Q_CLUSTER, "sync": True, "log_level": "WARNING"}  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"},
           "loggers": {"post_office": {"level": "WARNING"}}}
POST_OFFICE["LOG_LEVEL"] = 0  # no log row per email: the comparison is about sending
