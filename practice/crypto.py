"""Encryption at rest for secrets stored in the database (SMTP passwords, API tokens).

The key is ``FIELD_ENCRYPTION_KEY`` (a Fernet key, from the environment) or, failing that, one
derived from ``SECRET_KEY``. Rotating: list the old key after the new one in
``FIELD_ENCRYPTION_KEYS``; values are read with any of them and written with the first.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models


@functools.cache
def _fernet() -> MultiFernet:
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    if not keys:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dentcom-field-encryption", info=b"v1").derive(
            settings.SECRET_KEY.encode()
        )
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """The clear text, or "" when the value cannot be decrypted (key changed): the account then
    asks for its password again instead of crashing."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return ""


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code sees the clear text."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else ""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else ""
