"""Encryption at rest for secrets stored in the database (SMTP passwords).

Keys (``MultiFernet``: the first one encrypts, every one decrypts):

1. ``FIELD_ENCRYPTION_KEYS``, Fernet keys from the environment, in order; then
2. a key derived from ``SECRET_KEY``, then one derived from each ``SECRET_KEY_FALLBACKS`` entry.

So with ``FIELD_ENCRYPTION_KEYS`` empty the derived key of ``SECRET_KEY`` encrypts, and changing
``SECRET_KEY`` while listing the old one in ``SECRET_KEY_FALLBACKS`` keeps every secret readable;
``manage.py rotate_secrets`` then re-encrypts them under the current key so the fallback can go.
The derived keys keep decrypting when ``FIELD_ENCRYPTION_KEYS`` is set for the first time.

A stored value that no key decrypts is not turned into an empty string (which the next save would
write back, losing the secret for good): the field gives an ``UnreadableSecret`` that keeps the
ciphertext, writes it back unchanged on save, and lets the code that needs the clear text fail
with a clear reason (``UnreadableSecretError``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_noop

logger = logging.getLogger(__name__)

# Marked for the catalogue; shown translated where a language applies (``manage.py rotate_secrets``).
UNREADABLE_MESSAGE = gettext_noop("mot de passe illisible : ressaisissez-le")


class UnreadableSecretError(Exception):
    """The clear text of a stored secret was asked for, but no configured key decrypts it."""


class UnreadableSecret:
    """What an encrypted field holds when its stored value cannot be decrypted.

    Truthy (a secret *is* stored), never equal to a clear text, ``str()`` is empty (it never
    stands in for a password); saved back, it writes the original ciphertext byte for byte.
    """

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<UnreadableSecret>"

    def __eq__(self, other) -> bool:
        return isinstance(other, UnreadableSecret) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)


def _derived_key(secret: str) -> str:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dentcom-field-encryption", info=b"v1").derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(derived).decode()


def configured_keys() -> list[str]:
    """Every key, in order of use: the first encrypts, all decrypt (see the module doc)."""
    explicit = [k.strip() for k in (getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or []) if k and k.strip()]
    secrets = [settings.SECRET_KEY, *(getattr(settings, "SECRET_KEY_FALLBACKS", None) or [])]
    return [*explicit, *(_derived_key(s) for s in secrets if s)]


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def _fernet() -> MultiFernet:
    # Keyed on the settings' values, not cached once: tests and `override_settings` change them.
    return _multi_fernet(tuple(configured_keys()))


def invalid_keys() -> list[int]:
    """Positions (from 1) of the FIELD_ENCRYPTION_KEYS entries that are not Fernet keys."""
    bad = []
    for i, key in enumerate(getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [], start=1):
        try:
            Fernet(key.strip())
        except (ValueError, TypeError):
            bad.append(i)
    return bad


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """The clear text of ``token``. Raises UnreadableSecretError when no key decrypts it."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UnreadableSecretError("no configured key decrypts this value") from exc


def is_current(token: str) -> bool:
    """Whether ``token`` is encrypted with the key that encrypts now (nothing to rotate)."""
    try:
        Fernet(configured_keys()[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def clear_text(value) -> str:
    """The clear text an encrypted field holds; raises UnreadableSecretError for an
    ``UnreadableSecret``."""
    if isinstance(value, UnreadableSecret):
        raise UnreadableSecretError("no configured key decrypts this value")
    return value or ""


@functools.lru_cache(maxsize=256)
def _log_unreadable(label: str, fingerprint: str) -> None:
    # Once per value and process: every page that lists accounts loads them again.
    logger.error(
        "%s: a stored secret cannot be decrypted with any configured key (SECRET_KEY, "
        "SECRET_KEY_FALLBACKS, FIELD_ENCRYPTION_KEYS); it is kept as is until it is typed again "
        "(value %s). See docs/configuration.md, 'Rotation des clés'.",
        label,
        fingerprint,
    )


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python code sees the clear text, or an
    ``UnreadableSecret`` when no configured key decrypts the stored value."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        try:
            return decrypt(value)
        except UnreadableSecretError:
            label = f"{self.model._meta.label}.{self.name}" if hasattr(self, "model") else self.name
            _log_unreadable(label, hashlib.sha256(value.encode()).hexdigest()[:12])
            return UnreadableSecret(value)

    def to_python(self, value):
        # Model.full_clean() writes to_python's result back on the instance: an unreadable
        # secret must stay one, not become "".
        if isinstance(value, UnreadableSecret):
            return value
        return super().to_python(value)

    def get_prep_value(self, value):
        if isinstance(value, UnreadableSecret):
            return value.token  # written back unchanged: the secret is not lost
        value = super().get_prep_value(value)
        return encrypt(value) if value else ""

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if isinstance(value, UnreadableSecret) else super().value_to_string(obj)
