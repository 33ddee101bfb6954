"""Settings of the practice communication system.

Every value that differs between a laptop, CI and production is read from the environment here,
and only here (see docs/configuration.md). Secrets may also come from a file: ``SECRET_KEY_FILE``,
``TWILIO_AUTH_TOKEN_FILE``... (the usual container-secret convention).
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_secret(name: str, default: str = "") -> str:
    """Return ``$NAME``, or the content of the file named by ``$NAME_FILE``, or ``default``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_secret_list(name: str) -> list[str]:
    """A comma-separated list of secrets from ``$NAME`` or the file named by ``$NAME_FILE`` (commas
    or line breaks there), blanks dropped."""
    raw = env_secret(name)
    return [item.strip() for item in raw.replace("\n", ",").split(",") if item.strip()]


DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off. "
            "For a local demo, run `make run`, which sets DEBUG=1."
        )
    SECRET_KEY = "django-insecure-local-development-key-only-never-in-production-0123456789"
# Former keys, still accepted to read signed values (sessions...) and the secrets stored in the
# database while they are re-encrypted (`manage.py rotate_secrets`, docs/configuration.md).
SECRET_KEY_FALLBACKS = env_secret_list("SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "practice.apps.PracticeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",  # django-bootstrap-static: Bootstrap 5 CSS/JS served locally, no CDN
    "phonenumber_field",
    # django-prose-editor: the rich-text editor (ProseMirror), its files served from the package's
    # static files (no CDN); messaging/rich_editor.js builds it (see messaging/editor.py).
    "django_prose_editor",
    "axes",
    "csp",  # django-csp: the Content-Security-Policy header (below)
    "django_q",
    "practice",
    "patients",
    "messaging",
    "scheduler",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The user's own language, else the practice's (never the browser's): practice/i18n.py.
    "practice.i18n.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before any view-phase hook reads the body (CSRF reads the form): a request too large is
    # refused with the French page, the signed-in user known for the navigation bar.
    "practice.middleware.RequestSizeLimitMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "practice.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "practice.context_processors.practice",
                "practice.context_processors.nav_section",
                "practice.context_processors.settings_menu",
                "practice.context_processors.replies_menu",
            ],
        },
    },
]

WSGI_APPLICATION = "practice.wsgi.application"

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs the web app, the django-q2 cluster and the demo SMTP server on one SQLite
    # file (Django's "SQLite notes"): a writer waits for the one in place instead of failing with
    # "database is locked" (timeout); a transaction takes the write lock when it begins, so two
    # of them never deadlock upgrading a read lock, which fails at once whatever the timeout
    # (IMMEDIATE); readers and the writer do not block each other (WAL journal, in the file for
    # good; NORMAL synchronous is SQLite's advice with WAL and loses no committed transaction
    # on a crash of the program, only on a power cut).
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    })
    # SQLite (the demo) cannot enforce "NULLS NOT DISTINCT" unique constraints; PostgreSQL, the
    # production database, does. The demo does not need the warning at every start.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Content-Security-Policy (django-csp): scripts only from this site's own static files, never
# inline (every page's script is a file under static/; markup declares behaviour with data-
# attributes, see static/js/ui.js), so an injected <script> or on...= attribute does not run.
# Styles may be inline: Bootstrap's markup, the rich-text editor and the emails previewed in a sandboxed
# iframe use style attributes. Images may come from https: too, as the emails previewed do.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:", "https:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Reception computers are shared: a session ends after this long without any request (a working
# day by default), not 14 days after sign-in. Django's own mechanism: each request saves the
# session and so pushes its expiry back by SESSION_COOKIE_AGE.
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=600)
if SESSION_IDLE_TIMEOUT_MINUTES < 1:
    raise ImproperlyConfigured("SESSION_IDLE_TIMEOUT_MINUTES must be at least 1 (minutes of inactivity).")
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True

# Language and time: French practices first, English available.
LANGUAGE_CODE = env("LANGUAGE_CODE", default="fr")
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Stored files are never published as such: MEDIA_URL is the view that checks who asks
# (practice/files.py). MEDIA_SENDFILE lets the web server send the bytes once the view said yes:
# "" (Django sends them), "nginx" (X-Accel-Redirect under MEDIA_SENDFILE_PREFIX, an `internal`
# location) or "apache" (X-Sendfile with the absolute path, mod_xsendfile).
MEDIA_URL = "fichiers/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_SENDFILE = env("MEDIA_SENDFILE", default="")
if MEDIA_SENDFILE not in ("", "nginx", "apache"):
    raise ImproperlyConfigured(f"MEDIA_SENDFILE={MEDIA_SENDFILE!r}: choose '', 'nginx' or 'apache'.")
MEDIA_SENDFILE_PREFIX = env("MEDIA_SENDFILE_PREFIX", default="/fichiers-internes/")
# Largest file accepted as an email-type attachment and as an album image (practice/uploads.py).
EMAIL_ATTACHMENT_MAX_MB = env.float("EMAIL_ATTACHMENT_MAX_MB", default=10)
PATIENT_IMAGE_MAX_MB = env.float("PATIENT_IMAGE_MAX_MB", default=20)
# Request sizes. REQUEST_MAX_MB caps a whole request (uploaded files included) before it is read
# (practice.middleware); DATA_UPLOAD_MAX_MEMORY_SIZE caps the form fields alone (an email body
# with a pasted logo); FILE_UPLOAD_MAX_MEMORY_SIZE is where an upload moves from memory to a
# temporary file. Keep the proxy's limit (nginx client_max_body_size) above REQUEST_MAX_MB.
REQUEST_MAX_MB = env.float("REQUEST_MAX_MB", default=max(EMAIL_ATTACHMENT_MAX_MB, PATIENT_IMAGE_MAX_MB) + 5)
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env.float("FORM_MAX_MB", default=10) * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440  # Django's default, 2.5 Mo: larger uploads go to a temporary file
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

PHONENUMBER_DEFAULT_REGION = "FR"
PHONENUMBER_DB_FORMAT = "E164"

# Login throttling: 5 failures for one user from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
# The demo's local SMTP server (manage.py demosmtp), which the demo email account points to.
DEMO_SMTP_PORT = env.int("DEMO_SMTP_PORT", default=8025)
# The site's own emails (the planning, the verifiers' traces); in the demo (DEBUG) they reach
# the demo SMTP server, hence the demo inbox, unless EMAIL_HOST / EMAIL_PORT say otherwise.
EMAIL_HOST = env("EMAIL_HOST", default="127.0.0.1" if DEBUG else "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=DEMO_SMTP_PORT if DEBUG else 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="cabinet@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Sending (messaging/): the SMS gateway, chosen like EMAIL_BACKEND; the demo stores SMS in the
# database (demo inbox), production uses Twilio and refuses to start without its credentials
# (messaging/checks.py).
SMS_BACKEND = env(
    "SMS_BACKEND",
    default="sandbox" if DEBUG else "twilio",
)
TWILIO_ACCOUNT_SID = env_secret("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_secret("TWILIO_AUTH_TOKEN")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
TWILIO_BASE_URL = env("TWILIO_BASE_URL", default="https://api.twilio.com")
TWILIO_TIMEOUT = env.float("TWILIO_TIMEOUT", default=15)
# OVHcloud SMS (SMS_BACKEND="ovh"): the API keys of an application allowed to send on the SMS
# account OVH_SMS_SERVICE_NAME, the API root (OVH Europe's by default) and the secret that OVH's
# callback URLs carry (OVH does not sign its callbacks).
OVH_APPLICATION_KEY = env_secret("OVH_APPLICATION_KEY")
OVH_APPLICATION_SECRET = env_secret("OVH_APPLICATION_SECRET")
OVH_CONSUMER_KEY = env_secret("OVH_CONSUMER_KEY")
OVH_SMS_SERVICE_NAME = env_secret("OVH_SMS_SERVICE_NAME")
OVH_BASE_URL = env("OVH_BASE_URL", default="https://eu.api.ovh.com/1.0")
OVH_TIMEOUT = env.float("OVH_TIMEOUT", default=15)
OVH_CALLBACK_TOKEN = env_secret("OVH_CALLBACK_TOKEN")
# The public address of this site as the SMS gateway sees it (status callbacks, signatures).
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")
# Emails leave through each account's own SMTP server with this backend class.
MESSAGING_EMAIL_BACKEND = env("MESSAGING_EMAIL_BACKEND", default="messaging.backends.email.EmailBackend")
MESSAGING_MAX_ATTEMPTS = env.int("MESSAGING_MAX_ATTEMPTS", default=5)
MESSAGING_STALE_SENDING_MINUTES = env.int("MESSAGING_STALE_SENDING_MINUTES", default=10)
# An SMS "incertain" for this long is looked up at its gateway (messaging/reconcile.py), once.
MESSAGING_RECONCILE_AFTER_MINUTES = env.int("MESSAGING_RECONCILE_AFTER_MINUTES", default=15)
# Seconds one dispatch run may last before handing over to a continuation task; 0 = two thirds
# of Q_CLUSTER["timeout"] (messaging.dispatch.time_box). Must stay below the stale delay above.
MESSAGING_DISPATCH_TIME_BOX = env.float("MESSAGING_DISPATCH_TIME_BOX", default=0)
# How often a paused (unreachable) email account is tried again.
MESSAGING_ACCOUNT_PROBE_SECONDS = env.int("MESSAGING_ACCOUNT_PROBE_SECONDS", default=60)
# The fast path of mass mailings on PostgreSQL (practice/bulk.py, docs/performance.md); off, the
# plain Django path, the one SQLite always takes, gives the same rows more slowly.
BULK_FAST_PATH = env.bool("BULK_FAST_PATH", default=True)

# django-q2: values fit for messaging (see docs/scheduler.md): no catch-up of every missed day,
# a retry longer than the longest task, bounded attempts, failures acknowledged (kept in Failure).
Q_CLUSTER = {
    "name": "dentcom",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=360),
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "time_zone": TIME_ZONE,
    # The admin's heading of django-q2's tables, in the reader's language (lazy: no catalogue yet).
    "label": gettext_lazy("Tâches"),
}
if env("REDIS_URL", default=""):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = env("REDIS_URL")

if not DEBUG:
    # Production behind a TLS-terminating proxy (docs/deployment.md).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# Secrets stored in the database (SMTP passwords) are encrypted with these Fernet keys (first one
# writes, all read); then keys derived from SECRET_KEY and SECRET_KEY_FALLBACKS, which encrypt when
# this list is empty. See practice/crypto.py and `manage.py rotate_secrets`.
FIELD_ENCRYPTION_KEYS = env_secret_list("FIELD_ENCRYPTION_KEYS")
