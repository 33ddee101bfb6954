import pytest
from django.core.exceptions import ValidationError

from patients.phones import format_fr, is_mobile, normalize, validate_landline, validate_mobile


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
