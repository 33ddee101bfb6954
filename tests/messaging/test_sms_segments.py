"""The SMS counter: how the network counts characters and parts (3GPP TS 23.038)."""

import pytest

from messaging.sms import segments, to_gsm

EMOJI = "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    "text, encoding, length, parts",
    [
        ("", "GSM-7", 0, 0),
        ("Bonjour", "GSM-7", 7, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        # Extension table characters count twice.
        ("€", "GSM-7", 2, 1),
        ("[]{}^~|\\", "GSM-7", 16, 1),
        ("a" * 159 + "€", "GSM-7", 161, 2),
        # French accents that GSM-7 has.
        ("é è à ù É Ç", "GSM-7", 11, 1),
        # ...and those it has not: they force UCS-2.
        ("empêché", "UCS-2", 7, 1),
        ("ç", "UCS-2", 1, 1),
        ("l’heure", "UCS-2", 7, 1),
        ("«\u00a0oui\u00a0»", "UCS-2", 7, 1),
        ("ê" * 70, "UCS-2", 70, 1),
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        # An emoji is two UTF-16 units.
        (EMOJI, "UCS-2", 2, 1),
        ("a" * 69 + EMOJI, "UCS-2", 71, 2),
    ],
)
def test_segments(text, encoding, length, parts):
    result = segments(text)
    assert (result.encoding, result.length, result.parts) == (encoding, length, parts)


@pytest.mark.parametrize("length", [0, 1, 152, 153, 159, 160, 161, 305, 306, 307, 459, 460, 1530, 1531])
def test_plain_gsm_fast_path_counts_as_the_part_by_part_algorithm(length):
    # Plain GSM-7 text takes a shortcut (one septet per character): it must agree with the
    # part-by-part count of the general case, here forced by the reference implementation.
    from messaging.sms import GSM7_MULTI, GSM7_SINGLE, _count_parts

    text = ("Bonjour Mila, rappel de votre RDV à 09h00. " * 40)[:length]
    expected = _count_parts([1] * length, GSM7_SINGLE, GSM7_MULTI)
    assert segments(text).parts == expected
    assert segments(text).length == length


def test_one_empeche_turns_81_characters_into_two_sms():
    text = "Votre rendez-vous de demain est annulé, le praticien est empêché. Merci de rappeler."
    assert segments(text.replace("empêché", "empeche")).parts == 1
    assert segments(text).parts == 2


def test_an_escape_sequence_is_never_split_across_parts():
    # 152 plain characters then "€": the escape and the euro sign cannot straddle two parts.
    text = "a" * 152 + "€" + "b" * 10
    result = segments(text)
    assert result.length == 164
    assert result.parts == 2


def test_ucs2_characters_are_reported_once_each_in_order():
    assert segments("tête à tête ç’").ucs2_chars == ("ê", "ç", "’")
    assert segments("plain").ucs2_chars == ()
    # Extension and Greek characters are GSM-7: not reported, even next to one that is not.
    assert segments("[Δ] 5 € tête €").ucs2_chars == ("ê",)
    assert (segments("ΔΦ€").encoding, segments("ΔΦ€").length) == ("GSM-7", 4)
    # A lone surrogate (from a broken paste) counts as one unit, like any BMP character.
    assert (segments("a\udc80ê").length, segments("a\udc80ê").ucs2_chars) == (3, ("\udc80", "ê"))


def test_to_gsm_replaces_what_forces_ucs2():
    assert to_gsm("Empêché, ça coûte « 5 € » l’œuf\u00a0!") == 'Empeché, ca coute " 5 € " l\'oeuf !'
    assert segments(to_gsm("Noël à Pâques – déjà…")).encoding == "GSM-7"
    # What GSM-7 already has is left alone.
    assert to_gsm("é è à ù É Ç") == "é è à ù É Ç"


def test_the_fast_check_of_plain_gsm_agrees_with_the_table_on_every_character():
    from messaging.sms import _OUTSIDE_GSM7_BASIC, GSM7_BASIC

    for code in [*range(0x3000), 0x1F600, 0x20AC]:
        c = chr(code)
        assert (_OUTSIDE_GSM7_BASIC.search(c) is None) == (c in GSM7_BASIC), hex(code)


@pytest.mark.parametrize("length", [1, 69, 70, 71, 134, 135, 200, 670, 671])
@pytest.mark.parametrize("extra", ["", "😀"])
def test_ucs2_shortcut_counts_as_the_part_by_part_algorithm(length, extra):
    # UCS-2 text of the BMP takes a shortcut (one unit per character); with an emoji (two units,
    # never split) it takes the general path: both must agree with the reference count.
    from messaging.sms import GSM7_BASIC, GSM7_EXTENSION, UCS2_MULTI, UCS2_SINGLE, _count_parts, _unit_sizes

    text = (extra + ("ïZoë Lefèvre, RDV à 09h00 ; Ç " * 40))[:length]
    expected = _count_parts(_unit_sizes(text, False), UCS2_SINGLE, UCS2_MULTI)
    result = segments(text)
    assert (result.encoding, result.parts, result.length) == ("UCS-2", expected, sum(_unit_sizes(text, False)))
    outside = []
    for c in text:
        if c not in GSM7_BASIC and c not in GSM7_EXTENSION and c not in outside:
            outside.append(c)
    assert result.ucs2_chars == tuple(outside) and "è" not in outside  # è is GSM-7
