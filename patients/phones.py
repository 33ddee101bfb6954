"""Phone numbers: parsed with phonenumbers (France by default), stored in E.164, shown the French
way. A landline is never taken for a mobile: only numbers whose type is MOBILE (or that
phonenumbers cannot tell apart from one) receive SMS.

Speed: a mass mailing reads tens of thousands of stored numbers, and ``phonenumbers.parse`` +
``is_valid_number`` + ``number_type`` cost ~0.2 ms each time. Stored French numbers are E.164
(``+33`` and 9 digits), so for that exact shape the number type is computed from the library's
own French metadata (same patterns, same order of checks as ``phonenumbers``'
``_number_type_helper``), without parsing; anything else goes through the full parser, cached.
tests/patients/test_phones.py checks both paths agree on a table of numbers.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from phonenumbers import PhoneMetadata, PhoneNumberType

DEFAULT_REGION = "FR"

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}

# "+33" then a national significant number without its trunk "0": the only shape stored for a
# valid French number, and the one the fast path understands.
FR_E164_RE = re.compile(r"\+33[1-9]\d{8}")


class _FrenchTypes:
    """The number type of a French national significant number, from phonenumbers' metadata.

    Mirrors ``phonenumbers.phonenumberutil._number_type_helper``: the general description first,
    then the special types in the library's order, then fixed line / mobile. Only the regular
    expressions are compiled once instead of being looked up on every call."""

    _ORDER = [
        ("premium_rate", PhoneNumberType.PREMIUM_RATE),
        ("toll_free", PhoneNumberType.TOLL_FREE),
        ("shared_cost", PhoneNumberType.SHARED_COST),
        ("voip", PhoneNumberType.VOIP),
        ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
        ("pager", PhoneNumberType.PAGER),
        ("uan", PhoneNumberType.UAN),
        ("voicemail", PhoneNumberType.VOICEMAIL),
    ]

    def __init__(self) -> None:
        metadata = PhoneMetadata.metadata_for_region(DEFAULT_REGION)
        self.general = self._desc(metadata.general_desc)
        self.special = [
            (desc, kind) for name, kind in self._ORDER if (desc := self._desc(getattr(metadata, name)))
        ]
        self.fixed = self._desc(metadata.fixed_line)
        self.mobile = self._desc(metadata.mobile)
        self.same_mobile_and_fixed = bool(metadata.same_mobile_and_fixed_line_pattern)

    @staticmethod
    def _desc(desc) -> tuple[re.Pattern, frozenset[int]] | None:
        if desc is None or desc.national_number_pattern is None:
            return None
        return re.compile(desc.national_number_pattern), frozenset(desc.possible_length or ())

    @staticmethod
    def _matches(national: str, desc: tuple[re.Pattern, frozenset[int]] | None) -> bool:
        if desc is None:
            return False
        pattern, lengths = desc
        if lengths and len(national) not in lengths:
            return False
        return pattern.fullmatch(national) is not None

    @lru_cache(maxsize=65536)  # noqa: B019 - one instance for the process's life
    def number_type(self, national: str) -> int:
        # Cached: a mass mailing asks for each number twice (valid? mobile?) and the practice's
        # numbers come back day after day.
        if not self._matches(national, self.general):
            return PhoneNumberType.UNKNOWN
        for desc, kind in self.special:
            if self._matches(national, desc):
                return kind
        if self._matches(national, self.fixed):
            if self.same_mobile_and_fixed or self._matches(national, self.mobile):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed and self._matches(national, self.mobile):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


_FR = _FrenchTypes()


def _parsed(value):
    """A phonenumbers.PhoneNumber from a PhoneNumber field value, a string or None."""
    if not value:
        return None
    if isinstance(value, phonenumbers.PhoneNumber):
        return value
    return _parse_str(str(value))


@lru_cache(maxsize=4096)
def _parse_str(value: str) -> phonenumbers.PhoneNumber | None:
    # Cached: the same typed numbers come back (a practice phone, a guardian shared by siblings).
    # PhoneNumber objects are mutable; nothing here modifies them.
    try:
        return phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None


def _fast_national(value) -> str | None:
    """The national significant number of a French E.164 string, else None (use the parser)."""
    if isinstance(value, str) and len(value) == 12 and FR_E164_RE.fullmatch(value):
        return value[3:]
    return None


def _full_type(number: phonenumbers.PhoneNumber) -> int | None:
    """The number type of a valid number, None when invalid."""
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.number_type(number)


def is_mobile(value) -> bool:
    national = _fast_national(value)
    if national is not None:
        return _FR.number_type(national) in _MOBILE_TYPES
    number = _parsed(value)
    return bool(number and _full_type(number) in _MOBILE_TYPES)


def is_valid(value) -> bool:
    """A valid phone number (any type), typed any usual way."""
    national = _fast_national(value)
    if national is not None:
        return _FR.number_type(national) != PhoneNumberType.UNKNOWN
    number = _parsed(value)
    return bool(number and phonenumbers.is_valid_number(number))


def normalize(value: str) -> str | None:
    """E.164 for a valid number typed any usual way ("06 84 28 55 60", "+33 6..."), else None."""
    national = _fast_national(value)
    if national is not None:
        return value if _FR.number_type(national) != PhoneNumberType.UNKNOWN else None
    number = _parsed(value)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def mobile_number(value: str) -> tuple[str | None, bool]:
    """``normalize(value)`` and whether it is a mobile, in one pass (a mailing asks both for
    every recipient; cached: the practice's numbers come back mailing after mailing)."""
    national = _fast_national(value)
    if national is not None:
        kind = _FR.number_type(national)
        return (value if kind != PhoneNumberType.UNKNOWN else None), kind in _MOBILE_TYPES
    number = normalize(value)
    return number, bool(number) and is_mobile(number)


def _dotted(national: str) -> str:
    digits = "0" + national
    return ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def format_fr(value) -> str:
    """ "06.84.28.55.60" for a French number, the international format otherwise, "" for none."""
    national = _fast_national(value)
    if national is not None and _FR.number_type(national) != PhoneNumberType.UNKNOWN:
        return _dotted(national)
    number = _parsed(value)
    if number is None:
        return ""
    if number.country_code == 33 and phonenumbers.is_valid_number(number):
        return _dotted(str(number.national_number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def validate_mobile(value) -> None:
    if value and not is_mobile(value):
        raise ValidationError(
            "Ce numéro n'est pas un numéro de portable valide (un portable français commence par 06 ou 07).",
            code="not_mobile",
        )


def validate_landline(value) -> None:
    if value and not is_valid(value):
        raise ValidationError("Ce numéro de téléphone n'est pas valide.", code="invalid_phone")
