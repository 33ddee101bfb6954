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
from phonenumber_field import formfields, widgets
from phonenumber_field.phonenumber import PhoneNumber
from phonenumber_field.validators import validate_international_phonenumber

from . import phones
from .phones import DEFAULT_REGION


@lru_cache(maxsize=4096)
def _e164_of_str(value: str) -> str:
    number = phones.parse(value)
    if number is None or not phonenumbers.is_valid_number(number):
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def as_e164(value):
    """E.164 for a valid number (a string typed any usual way or a PhoneNumber), the value as
    typed for an invalid one (validators report it), "" / None unchanged."""
    if value is None or value == "":
        return value
    if isinstance(value, phonenumbers.PhoneNumber):
        number = phones.overseas(value) or value
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return getattr(value, "raw_input", None) or str(value)
    value = str(value)
    # Stored numbers are already E.164: a valid metropolitan one is returned without parsing.
    if phones.is_stored_french(value):
        return value
    return _e164_of_str(value)


class FrenchPhoneWidget(widgets.RegionalPhoneNumberWidget):
    """Shows French numbers, overseas ones included, in their national format ("06 84 28 55 60",
    "0690 12 34 56"), foreign ones internationally, refused ones as typed."""

    def format_value(self, value):
        number = phones.parse(value) if isinstance(value, str) and value else value
        if isinstance(number, phonenumbers.PhoneNumber) and not phonenumbers.is_valid_number(number):
            # A refused number is shown back as typed, for staff to correct it (phonenumbers'
            # national format of an invalid number drops the 0 and the spaces).
            return value if isinstance(value, str) else (getattr(value, "raw_input", "") or str(value))
        if (
            isinstance(number, phonenumbers.PhoneNumber)
            and number.country_code in phones.OVERSEAS_COUNTRY_CODES
            and phonenumbers.is_valid_number(number)
        ):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return super().format_value(value)


class FrenchPhoneFormField(formfields.PhoneNumberField):
    """phonenumber-field's form field, reading a number that is not valid in metropolitan France
    as the overseas number dialled the same way ("0690 12 34 56" is +590 690 12 34 56)."""

    widget = FrenchPhoneWidget

    def to_python(self, value):
        number = super().to_python(value)
        if isinstance(number, PhoneNumber) and not number.is_valid():
            meant = phones.overseas(number)
            if meant is not None:
                overseas = PhoneNumber()
                overseas.merge_from(meant)
                overseas.raw_input = number.raw_input
                return overseas
        return number


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
            "form_class": form_class or FrenchPhoneFormField,
            "region": DEFAULT_REGION,
            "error_messages": self.error_messages,
            "choices_form_class": choices_form_class,
        }
        defaults.update(kwargs)
        return super().formfield(**defaults)
