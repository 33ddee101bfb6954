import pytest
from django.core.exceptions import ValidationError

from patients.phones import format_fr, is_mobile, mobile_number, normalize, validate_landline, validate_mobile


@pytest.mark.parametrize(
    "typed, e164",
    [
        ("06 84 28 55 60", "+33684285560"),
        ("06.84.28.55.60", "+33684285560"),
        ("+33 6 84 28 55 60", "+33684285560"),
        ("0033684285560", "+33684285560"),
        ("03.80.32.01.40", "+33380320140"),
    ],
)
def test_numbers_typed_the_usual_ways_are_normalised_to_e164(typed, e164):
    assert normalize(typed) == e164


def test_french_numbers_are_shown_with_dots():
    assert format_fr("+33684285560") == "06.84.28.55.60"
    assert format_fr("") == ""


def test_a_landline_is_never_a_mobile():
    assert is_mobile("06 84 28 55 60")
    assert is_mobile("07 81 23 45 67")
    assert not is_mobile("03 80 32 01 40")
    with pytest.raises(ValidationError, match="portable"):
        validate_mobile("03 80 32 01 40")


def test_garbage_is_refused_with_a_french_message():
    assert normalize("0612") is None
    with pytest.raises(ValidationError, match="pas valide"):
        validate_landline("12")


def _french_numbers_table() -> list[str]:
    """Every 3-digit French prefix (01x to 09x, mobile, landline, VoIP, premium, toll-free...),
    each with a few endings, as stored (E.164) and as typed; plus shapes the fast path must pass
    on to the parser (short, long, foreign, trunk zero kept, garbage)."""
    import random

    rng = random.Random(5)
    table = []
    for prefix in range(100, 1000):
        for _ in range(4):
            national = f"{prefix}{rng.randrange(10**6):06d}"
            table += [f"+33{national}", f"0{national}"]
    table += ["+3368428556", "+336842855601", "+330684285560", "+41446681800", "+447700900123", "+33", "", "abc",
              "06 84 28 55 60", "+33 6 84 28 55 60", "0033684285560", "+33000000000"]
    return table


def test_the_fast_path_gives_the_same_answers_as_full_parsing():
    import phonenumbers

    def slow_type(value):
        try:
            number = phonenumbers.parse(value, "FR")
        except phonenumbers.NumberParseException:
            return None
        return phonenumbers.number_type(number) if phonenumbers.is_valid_number(number) else None

    def slow_format(value):
        try:
            number = phonenumbers.parse(value, "FR")
        except phonenumbers.NumberParseException:
            return ""
        if number.country_code == 33 and phonenumbers.is_valid_number(number):
            digits = "0" + str(number.national_number)
            return ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    mobile_types = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
    checked_mobiles = 0
    for value in _french_numbers_table():
        kind = slow_type(value)
        assert is_mobile(value) == (kind in mobile_types), value
        checked_mobiles += kind in mobile_types
        expected_e164 = (
            phonenumbers.format_number(phonenumbers.parse(value, "FR"), phonenumbers.PhoneNumberFormat.E164)
            if kind is not None
            else None
        )
        assert normalize(value) == expected_e164, value
        assert mobile_number(value) == (expected_e164, kind in mobile_types), value
        assert format_fr(value) == (slow_format(value) if value else ""), value
    assert checked_mobiles > 100  # the table does exercise the mobile ranges
