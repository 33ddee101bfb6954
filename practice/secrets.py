"""The secrets stored in the database, across every model: which ones no key can read, and their
re-encryption under the current key (``manage.py rotate_secrets``). See practice/crypto.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, models, transaction
from django.db.models.functions import Cast

from .crypto import EncryptedTextField, UnreadableSecret, is_current


@dataclass(frozen=True)
class StoredSecret:
    """One row's encrypted field, named for people: "compte email « Cabinet » (mot de passe)"."""

    model: type[models.Model]
    pk: object
    field: str
    label: str


@dataclass
class RotationReport:
    rotated: int = 0  # re-encrypted from an older key
    current: int = 0  # already under the current key (re-encrypted all the same)
    empty: int = 0
    unreadable: list[StoredSecret] = field(default_factory=list)


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedTextField]]:
    """Every (model, field) of the installed apps that stores an encrypted secret."""
    return [
        (model, f)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if isinstance(f, EncryptedTextField)
    ]


def _describe(obj: models.Model, f: EncryptedTextField) -> StoredSecret:
    return StoredSecret(
        model=type(obj), pk=obj.pk, field=f.name, label=f"{obj._meta.verbose_name} « {obj} » ({f.verbose_name})"
    )


def unreadable_secrets(*, using: str = DEFAULT_DB_ALIAS) -> list[StoredSecret]:
    """The stored secrets that no configured key decrypts (they must be typed again)."""
    found = []
    for model, f in encrypted_fields():
        for obj in model._default_manager.using(using).exclude(**{f.name: ""}).order_by("pk"):
            if isinstance(getattr(obj, f.attname), UnreadableSecret):
                found.append(_describe(obj, f))
    return found


def secrets_rotate(*, using: str = DEFAULT_DB_ALIAS) -> RotationReport:
    """Re-encrypt every readable stored secret with the key that encrypts now (the first of
    FIELD_ENCRYPTION_KEYS, or the one derived from SECRET_KEY), so that older keys and
    SECRET_KEY_FALLBACKS can then be removed. Unreadable secrets are left as they are and listed.
    Each row is locked while it is rewritten: a password typed meanwhile is not overwritten."""
    report = RotationReport()
    for model, f in encrypted_fields():
        manager = model._default_manager.using(using)
        pks = list(manager.order_by("pk").values_list("pk", flat=True))
        for pk in pks:
            with transaction.atomic(using=using):
                # The raw token as well as the clear text: Cast's plain TextField skips decryption.
                obj = (
                    manager.select_for_update()
                    .annotate(_raw_secret=Cast(f.name, output_field=models.TextField()))
                    .filter(pk=pk)
                    .first()
                )
                if obj is None or not obj._raw_secret:
                    report.empty += 1
                    continue
                value = getattr(obj, f.attname)
                if isinstance(value, UnreadableSecret):
                    report.unreadable.append(_describe(obj, f))
                    continue
                if is_current(obj._raw_secret):
                    report.current += 1
                else:
                    report.rotated += 1
                # update(), not save(): no other column, no auto_now, no signal is touched.
                manager.filter(pk=pk).update(**{f.name: value})
    return report
