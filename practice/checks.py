"""System checks of the secrets stored in the database (see practice/crypto.py)."""

from __future__ import annotations

from django.core.checks import Error, Tags, Warning, register
from django.db import connections

from .crypto import UNREADABLE_MESSAGE, invalid_keys


@register(Tags.security)
def check_encryption_keys(app_configs, **kwargs):
    """A FIELD_ENCRYPTION_KEYS entry that is not a Fernet key would break every read."""
    bad = invalid_keys()
    if not bad:
        return []
    return [
        Error(
            f"FIELD_ENCRYPTION_KEYS: entry {', '.join(map(str, bad))} is not a Fernet key.",
            hint="Each key is 32 url-safe base64-encoded bytes, as made by "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`.",
            id="practice.E001",
        )
    ]


@register(Tags.database)
def check_unreadable_secrets(app_configs, databases=None, **kwargs):
    """Stored secrets that no configured key decrypts. A database check: run by `migrate` and
    `manage.py check --database default`. A warning, not an error: the server must start so
    that the password can be typed again."""
    from .secrets import encrypted_fields, unreadable_secrets

    warnings = []
    for alias in databases or []:
        existing = set(connections[alias].introspection.table_names())
        if not all(model._meta.db_table in existing for model, _ in encrypted_fields()):
            continue  # before the first migrate
        for secret in unreadable_secrets(using=alias):
            warnings.append(
                Warning(
                    f"{secret.label}: {UNREADABLE_MESSAGE} (no configured key decrypts it; "
                    "it is kept as is, nothing is sent with it).",
                    hint="Put the former key back in SECRET_KEY_FALLBACKS or FIELD_ENCRYPTION_KEYS and run "
                    "`manage.py rotate_secrets`, or type the password again in Paramétrage → Comptes email. "
                    "See docs/configuration.md, 'Rotation des clés'.",
                    obj=f"{secret.model._meta.label}:{secret.pk}",
                    id="practice.W001",
                )
            )
    return warnings
