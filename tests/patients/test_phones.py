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


def _reference_parse(value):
    """What staff mean, by plain phonenumbers calls: the French reading, or when it is not a valid
    number, the same national digits under an overseas country code where they are allocated."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code == 33 and not phonenumbers.is_valid_number(number):
        for code in (590, 594, 596, 262):
            candidate = phonenumbers.PhoneNumber(country_code=code, national_number=number.national_number)
            if phonenumbers.is_valid_number(candidate):
                return candidate
    return number


def test_the_fast_path_gives_the_same_answers_as_full_parsing():
    import phonenumbers

    def slow_type(value):
        number = _reference_parse(value)
        if number is None:
            return None
        return phonenumbers.number_type(number) if phonenumbers.is_valid_number(number) else None

    def slow_format(value):
        number = _reference_parse(value)
        if number is None:
            return ""
        if number.country_code in (33, 590, 594, 596, 262) and phonenumbers.is_valid_number(number):
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
            phonenumbers.format_number(_reference_parse(value), phonenumbers.PhoneNumberFormat.E164)
            if kind is not None
            else None
        )
        assert normalize(value) == expected_e164, value
        assert mobile_number(value) == (expected_e164, kind in mobile_types), value
        assert format_fr(value) == (slow_format(value) if value else ""), value
    assert checked_mobiles > 100  # the table does exercise the mobile ranges


# ---------------------------------------------------------------------------------------------
# Overseas France: mobiles dialled 0690... in France, stored with their own country code
# ---------------------------------------------------------------------------------------------

# One allocated mobile per national prefix (checked with phonenumbers, see NOTES.md): the
# territory, its E.164 form, and how it is written in France.
OVERSEAS_MOBILES = [
    ("Guadeloupe", "+590690123456", "06.90.12.34.56"),
    ("Guadeloupe", "+590691281234", "06.91.28.12.34"),
    ("Guyane", "+594694201234", "06.94.20.12.34"),
    ("Martinique", "+596696123456", "06.96.12.34.56"),
    ("Martinique", "+596697123456", "06.97.12.34.56"),
    ("La Réunion", "+262692123456", "06.92.12.34.56"),
    ("La Réunion", "+262693123456", "06.93.12.34.56"),
    ("Mayotte", "+262639201234", "06.39.20.12.34"),
]


def _spellings(e164: str, dotted: str) -> list[str]:
    """Every usual way of writing one overseas mobile: national with spaces, dots, dashes or
    nothing, international with + or 00, with or without the trunk 0 in brackets, and with +33
    (software that prefixes every French-looking number so)."""
    national = dotted.replace(".", "")  # 0690123456
    code, rest = e164[1:4], e164[4:]  # "590", "690123456"
    pairs = " ".join(national[i : i + 2] for i in range(0, 10, 2))
    return [
        national,
        pairs,
        dotted,
        pairs.replace(" ", "-"),
        f"{national[:4]} {national[4:6]} {national[6:8]} {national[8:]}",
        f"+{code} {rest[:3]} {rest[3:5]} {rest[5:7]} {rest[7:]}",
        f"+{code}{rest}",
        f"00{code}{rest}",
        f"00 {code} {rest}",
        f"+{code} (0){rest}",
        f"+33 {rest[0]} {rest[1:3]} {rest[3:5]} {rest[5:7]} {rest[7:]}",
        f"0033{rest}",
    ]


@pytest.mark.parametrize("territory, e164, dotted", OVERSEAS_MOBILES, ids=[m[1] for m in OVERSEAS_MOBILES])
def test_overseas_mobiles_are_read_in_every_spelling_stored_in_e164_shown_the_french_way(territory, e164, dotted):
    for typed in _spellings(e164, dotted):
        assert normalize(typed) == e164, typed
        assert is_mobile(typed), typed
        assert mobile_number(typed) == (e164, True), typed
        assert format_fr(typed) == dotted, typed
        validate_mobile(typed)  # no error: SMS allowed
    assert format_fr(e164) == dotted and is_mobile(e164)


def test_the_new_07_09_overseas_mobile_ranges_are_read_too():
    # 07 09 0x / 2x / 3x: mobile ranges phonenumbers allocates to the overseas departments.
    assert mobile_number("07 09 01 23 45") == ("+590709012345", True)
    assert format_fr("+590709012345") == "07.09.01.23.45"


def test_each_territory_has_its_country_code():
    codes = {territory: e164[:4] for territory, e164, _ in OVERSEAS_MOBILES}
    assert codes == {"Guadeloupe": "+590", "Guyane": "+594", "Martinique": "+596", "La Réunion": "+262",
                     "Mayotte": "+262"}


@pytest.mark.parametrize("typed", ["0639 12 34 56", "+262 639 12 34 56", "0691 12 34 56", "00262639123456"])
def test_unallocated_overseas_ranges_stay_refused(typed):
    assert normalize(typed) is None and not is_mobile(typed)
    with pytest.raises(ValidationError, match="outre-mer"):
        validate_mobile(typed)


def test_overseas_landlines_are_numbers_but_not_mobiles():
    assert normalize("0590 12 34 56") == "+590590123456"
    assert normalize("0262 12 34 56") == "+262262123456"
    assert format_fr("+596596301234") == "05.96.30.12.34"
    assert not is_mobile("0590 12 34 56")
    validate_landline("0590 12 34 56")
    with pytest.raises(ValidationError, match="05.90.12.34.56 n'est pas un numéro de portable"):
        validate_mobile("0590 12 34 56")


def test_metropolitan_numbers_keep_their_reading():
    # 02 69 is a metropolitan range as well as Mayotte's landlines: the French reading wins.
    assert normalize("0269 61 12 34") == "+33269611234"
    assert normalize("06 84 28 55 60") == "+33684285560"


def test_a_foreign_number_typed_nationally_is_told_to_use_the_international_form():
    with pytest.raises(ValidationError, match=r"format international, par exemple \+44"):
        validate_mobile("07911 123456")
    with pytest.raises(ValidationError, match=r"format international, par exemple \+44"):
        validate_landline("07911 123456")
    assert normalize("+44 7911 123456") == "+447911123456" and is_mobile("+44 7911 123456")
    assert format_fr("+447911123456") == "+44 7911 123456"
