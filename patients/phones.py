"""Phone numbers: parsed with phonenumbers (France by default), stored in E.164, shown the French
way. A landline is never taken for a mobile: only numbers whose type is MOBILE (or that
phonenumbers cannot tell apart from one) receive SMS."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from phonenumbers import PhoneNumberType

DEFAULT_REGION = "FR"

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _parsed(value):
    """A phonenumbers.PhoneNumber from a PhoneNumber field value, a string or None."""
    if not value:
        return None
    if isinstance(value, phonenumbers.PhoneNumber):
        return value
    try:
        return phonenumbers.parse(str(value), DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None


def is_mobile(value) -> bool:
    number = _parsed(value)
    return bool(
        number and phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _MOBILE_TYPES
    )


def normalize(value: str) -> str | None:
    """E.164 for a valid number typed any usual way ("06 84 28 55 60", "+33 6..."), else None."""
    number = _parsed(value)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_fr(value) -> str:
    """ "06.84.28.55.60" for a French number, the international format otherwise, "" for none."""
    number = _parsed(value)
    if number is None:
        return ""
    if number.country_code == 33 and phonenumbers.is_valid_number(number):
        digits = "0" + str(number.national_number)
        return ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def validate_mobile(value) -> None:
    if value and not is_mobile(value):
        raise ValidationError(
            "Ce numéro n'est pas un numéro de portable valide (un portable français commence par 06 ou 07).",
            code="not_mobile",
        )


def validate_landline(value) -> None:
    number = _parsed(value)
    if value and (number is None or not phonenumbers.is_valid_number(number)):
        raise ValidationError("Ce numéro de téléphone n'est pas valide.", code="invalid_phone")
