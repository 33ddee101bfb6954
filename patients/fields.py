"""``PhoneField``: a phone number stored in E.164 and handled in Python as a plain ``str``.

django-phonenumber-field's model field turns every number read from the database into a
``PhoneNumber`` (``phonenumbers.parse``, twice per row: ``from_db_value`` then the descriptor),
which dominated the cost of loading 10,000 recipients. Here the database value is used as is;
only values assigned by code (a form's ``PhoneNumber``, "06 84 28 55 60" typed in a factory or a
script) are normalised, so ``obj.mobile`` is always the E.164 string (or the raw input of an
invalid number, as ``str(PhoneNumber)`` was). Forms keep phonenumber-field's form field and
widget: same parsing of what staff type, same national display ("06 84 28 55 60").
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from phonenumber_field import formfields
from phonenumber_field.validators import validate_international_phonenumber

from .phones import DEFAULT_REGION, FR_E164_RE


@lru_cache(maxsize=4096)
def _e164_of_str(value: str) -> str:
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_valid_number(number):
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def as_e164(value):
    """E.164 for a valid number (a string typed any usual way or a PhoneNumber), the value as
    typed for an invalid one (validators report it), "" / None unchanged."""
    if value is None or value == "":
        return value
    if isinstance(value, phonenumbers.PhoneNumber):
        if phonenumbers.is_valid_number(value):
            return phonenumbers.format_number(value, phonenumbers.PhoneNumberFormat.E164)
        return getattr(value, "raw_input", None) or str(value)
    value = str(value)
    # Stored numbers are already E.164: a French one is returned without parsing. Its validity
    # does not change what is kept (an invalid number keeps its raw input, which is this string).
    if len(value) == 12 and FR_E164_RE.fullmatch(value):
        return value
    return _e164_of_str(value)


class PhoneDescriptor(DeferredAttribute):
    """Normalises on assignment, so the attribute is E.164 whoever set it (model init from the
    database takes the fast path of ``as_e164``)."""

    def __set__(self, instance, value) -> None:
        instance.__dict__[self.field.attname] = as_e164(value)


class PhoneField(models.CharField):
    """A phone number: E.164 in the database and in Python (``str``), validated with
    phonenumbers, typed and shown the French way in forms."""

    descriptor_class = PhoneDescriptor
    default_validators = [validate_international_phonenumber]
    description = "Phone number (E.164)"

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 128)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        # CharField.get_prep_value calls this too: lookups and saves see E.164.
        return super().to_python(as_e164(value))

    def formfield(self, form_class=None, choices_form_class=None, **kwargs):
        defaults = {
            "form_class": form_class or formfields.PhoneNumberField,
            "region": DEFAULT_REGION,
            "error_messages": self.error_messages,
            "choices_form_class": choices_form_class,
        }
        defaults.update(kwargs)
        return super().formfield(**defaults)
