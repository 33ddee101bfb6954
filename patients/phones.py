"""Phone numbers: parsed with phonenumbers (France by default), stored in E.164, shown the French
way. A landline is never taken for a mobile: only numbers whose type is MOBILE (or that
phonenumbers cannot tell apart from one) receive SMS.

Overseas France: Guadeloupe (with Saint-Martin and Saint-Barthélemy), Guyane, Martinique, La
Réunion and Mayotte have their own country codes (+590, +594, +596, +262) but share the French
national plan: in France their numbers are dialled with a 0 like any French number ("0690 12 34
56" for a Guadeloupe mobile). phonenumbers reads such a number as metropolitan (+33 6 90...), which
is not allocated, so a French reading that is not a valid number is tried again under each
overseas country code with the same national digits (``parse``). phonenumbers knows which ranges
are allocated there: "+262 639 20 12 34" (Mayotte) is valid, "+262 639 12 34 56" is not. These
numbers are stored with their own country code (+590 690 12 34 56) and shown like metropolitan
ones (06.90.12.34.56).

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
from django.utils.translation import gettext, gettext_lazy
from phonenumbers import PhoneMetadata, PhoneNumberType

DEFAULT_REGION = "FR"

# Country codes of the overseas departments that share the French national plan (dialled 0xxx
# from France). +590 also covers Saint-Martin and Saint-Barthélemy, +262 both La Réunion and
# Mayotte. Saint-Pierre-et-Miquelon (+508) has six-digit numbers of its own: not included.
OVERSEAS_COUNTRY_CODES = (590, 594, 596, 262)
_FRENCH_PLAN_COUNTRY_CODES = frozenset((33, *OVERSEAS_COUNTRY_CODES))

# What the messages suggest for a number that is neither French nor written internationally.
FOREIGN_HINT = gettext_lazy("un numéro étranger s'écrit au format international, par exemple +44 7911 123456")

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
        # Valid = any type but UNKNOWN: one alternation of every type's pattern answers in one
        # regular-expression call (the model field asks it for every number read from the
        # database, where a cache would not help: 100,000 patients have 100,000 numbers).
        # Every French type has one possible length, 9 digits, which the E.164 shape ensures.
        descs = [desc for desc, _ in self.special] + [d for d in (self.fixed, self.mobile) if d]
        assert all(lengths <= {9} for _, lengths in descs), "a French number type has another length"
        self.any_type = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in descs))

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

    def is_valid(self, national: str) -> bool:
        """Whether a 9-digit national significant number is a valid French number
        (``number_type(national) != UNKNOWN``, without the type)."""
        return self._matches(national, self.general) and self.any_type.fullmatch(national) is not None

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


def overseas(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber | None:
    """The overseas number meant by ``number`` when it was read as French (dialled nationally,
    "0690 12 34 56", or with +33 by software that prefixes every number so) and is not a valid
    metropolitan number; None when no overseas department has those digits allocated."""
    if number.country_code != 33 or phonenumbers.is_valid_number(number):
        return None
    for country_code in OVERSEAS_COUNTRY_CODES:
        candidate = phonenumbers.PhoneNumber(country_code=country_code, national_number=number.national_number)
        if phonenumbers.is_valid_number(candidate):
            return candidate
    return None


def parse(value: str) -> phonenumbers.PhoneNumber | None:
    """The number meant by ``value`` typed any usual way (national or international, overseas
    France included); None when it cannot be read as a number at all. The result may be invalid
    (check ``phonenumbers.is_valid_number``): an invalid French reading is returned as read."""
    try:
        number = phonenumbers.parse(value, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    return overseas(number) or number


def _parsed(value):
    """A phonenumbers.PhoneNumber from a PhoneNumber field value, a string or None."""
    if not value:
        return None
    if isinstance(value, phonenumbers.PhoneNumber):
        return overseas(value) or value
    return _parse_str(str(value))


@lru_cache(maxsize=4096)
def _parse_str(value: str) -> phonenumbers.PhoneNumber | None:
    # Cached: the same typed numbers come back (a practice phone, a guardian shared by siblings).
    # PhoneNumber objects are mutable; nothing here modifies them.
    return parse(value)


def _fast_national(value) -> str | None:
    """The national significant number of a valid French E.164 string, else None (use the
    parser: an unallocated +33 number may be an overseas one written with +33)."""
    if isinstance(value, str) and len(value) == 12 and FR_E164_RE.fullmatch(value):
        national = value[3:]
        if _FR.is_valid(national):
            return national
    return None


def is_stored_french(value) -> bool:
    """Whether ``value`` is already the E.164 string of a valid metropolitan number (nothing to
    normalise: the fast path of ``patients.fields``)."""
    return _fast_national(value) is not None


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
    if _fast_national(value) is not None:
        return True
    number = _parsed(value)
    return bool(number and phonenumbers.is_valid_number(number))


def normalize(value: str) -> str | None:
    """E.164 for a valid number typed any usual way ("06 84 28 55 60", "+33 6...", "0690 12 34 56"
    -> "+590690123456"), else None."""
    if _fast_national(value) is not None:
        return value
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
        return value, _FR.number_type(national) in _MOBILE_TYPES
    number = normalize(value)
    return number, bool(number) and is_mobile(number)


def _dotted(national: str) -> str:
    digits = "0" + national
    return ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def format_fr(value) -> str:
    """ "06.84.28.55.60" for a French number, overseas France included ("06.90.12.34.56" for
    +590 690 12 34 56: how it is dialled from France and there), the international format
    otherwise, "" for none."""
    national = _fast_national(value)
    if national is not None:
        return _dotted(national)
    number = _parsed(value)
    if number is None:
        return ""
    if number.country_code in _FRENCH_PLAN_COUNTRY_CODES and phonenumbers.is_valid_number(number):
        return _dotted(str(number.national_number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def invalid_reason(value: str) -> str:
    """Why ``value`` is not a number, in the active language. A number of 8 digits or more typed without "+"
    or "00" was read as French: it may be a foreign one typed nationally, so the reason says how
    to type those."""
    value = (value or "").strip()
    if value.startswith(("+", "00")) or sum(c.isdigit() for c in value) < 8:
        return gettext("Numéro de téléphone invalide.")
    return gettext("Numéro de téléphone invalide (%(hint)s).") % {"hint": FOREIGN_HINT}


def validate_mobile(value) -> None:
    if value and not is_mobile(value):
        if is_valid(value):
            message = gettext(
                "%(number)s n'est pas un numéro de portable : un portable français commence par 06 ou 07 "
                "(outre-mer : 0690, 0691, 0692, 0693, 0694, 0696, 0697 ou 0639)."
            ) % {"number": format_fr(value)}
        else:
            message = gettext(
                "Ce numéro n'est pas un numéro de portable valide : un portable français commence par 06 ou 07 "
                "(outre-mer : 0690, 0691, 0692, 0693, 0694, 0696, 0697 ou 0639) ; %(hint)s."
            ) % {"hint": FOREIGN_HINT}
        raise ValidationError(message, code="not_mobile")


def validate_landline(value) -> None:
    if value and not is_valid(value):
        raise ValidationError(
            gettext("Ce numéro de téléphone n'est pas valide ; %(hint)s.") % {"hint": FOREIGN_HINT}, code="invalid_phone"
        )
