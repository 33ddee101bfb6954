"""The pasted-list parser and the CSV importer, on the awkward inputs staff actually have."""

from __future__ import annotations

import codecs
import io
import tracemalloc

import pytest

from messaging.csv_import import (
    CsvContacts,
    CsvImportError,
    EntryError,
    ListEntry,
    collect_entries,
    parse_pasted_list,
)


def test_pasted_mobiles_any_separator_normalised_and_deduplicated():
    text = "06 84 28 55 60, 06.13.68.29.82;\n+33 6 84 28 55 60\r\n0765432109 ;; 0145678901, 12ab, \n\n"
    parsed = parse_pasted_list(text, channel="sms")
    assert [e.address for e in parsed.entries] == ["+33684285560", "+33613682982", "+33765432109"]
    assert parsed.duplicates == ["+33 6 84 28 55 60"]
    assert [(e.value, e.reason) for e in parsed.errors] == [
        ("0145678901", "01.45.67.89.01 n'est pas un numéro de portable."),
        ("12ab", "Numéro de téléphone invalide."),
    ]


def test_pasted_emails_lower_cased_and_checked():
    parsed = parse_pasted_list("Emma@Patients.test;emma@patients.test\nnot-an-email, x@y.fr", channel="email")
    assert [e.address for e in parsed.entries] == ["emma@patients.test", "x@y.fr"]
    assert parsed.duplicates == ["emma@patients.test"]
    assert [(e.value, e.reason) for e in parsed.errors] == [("not-an-email", "Adresse email invalide.")]


def test_pasted_list_has_no_limit_of_fifty():
    numbers = "\n".join(f"06{n:08d}" for n in range(10_000_000, 10_000_300))
    parsed = parse_pasted_list(numbers, channel="sms")
    assert len(parsed.entries) == 300 and not parsed.errors


def read(data: bytes, channel="sms"):
    contacts = CsvContacts(io.BytesIO(data), channel=channel)
    return contacts, list(contacts.rows())


def test_utf8_with_bom_semicolons():
    data = "\ufeffNom;Prénom;Portable;Email\nZIMMER;Alexis;06 84 28 55 60;\nGHIENNE;Éireen;06.13.68.29.82;s@m.fr\n"
    contacts, rows = read(data.encode("utf-8"))
    assert contacts.layout.encoding == "utf-8-sig" and contacts.layout.delimiter == ";"
    assert contacts.layout.columns == {"last_name": 0, "first_name": 1, "mobile": 2, "email": 3}
    assert rows == [
        ListEntry("+33684285560", "ZIMMER", "Alexis", 2),
        ListEntry("+33613682982", "GHIENNE", "Éireen", 3),
    ]


def test_latin1_commas_and_quoted_fields():
    data = 'nom,prénom,"téléphone portable",mail\n"DUPONT, Jr",Hélène,0684285560,h@d.fr\n"KISIEL";"Luka";x;y\n'
    contacts, rows = read(data.encode("latin-1"))
    assert contacts.layout.encoding in {"cp1252", "latin-1"} and contacts.layout.delimiter == ","
    assert rows[0] == ListEntry("+33684285560", "DUPONT, Jr", "Hélène", 2)
    # The second line uses ";" inside a ","-file: one cell, no mobile column value.
    assert isinstance(rows[1], EntryError) and rows[1].line == 3


def test_windows_1252_apostrophe():
    data = "Nom;Prénom;Mobile\nD’ARC;Jeanne;0612345678\n".encode("cp1252")
    contacts, rows = read(data)
    assert contacts.layout.encoding == "cp1252"
    assert rows == [ListEntry("+33612345678", "D’ARC", "Jeanne", 2)]


def test_bad_rows_reported_with_line_numbers_and_multiline_quoted_field():
    data = (
        b"Nom;Portable;Remarque\n"
        b"A;0612345678;ok\n"
        b"B;;ok\n"
        b"\n"
        b'C;0145678901;"sur\ndeux lignes"\n'
        b"D;06 99;ok\n"
        b"E;0765432109;ok\n"
    )
    _, rows = read(data)
    assert [(r.line, type(r).__name__) for r in rows] == [
        (2, "ListEntry"),
        (3, "EntryError"),
        (5, "EntryError"),
        (7, "EntryError"),
        (8, "ListEntry"),
    ]
    assert [r.reason for r in rows if isinstance(r, EntryError)] == [
        "Aucun numéro de portable.",
        "01.45.67.89.01 n'est pas un numéro de portable.",
        "Numéro de téléphone invalide.",
    ]


def test_email_channel_needs_an_email_column():
    with pytest.raises(CsvImportError, match="Aucune colonne « email ».*« Nom », « Portable »"):
        CsvContacts(io.BytesIO(b"Nom;Portable\nA;0612345678\n"), channel="email")
    with pytest.raises(CsvImportError, match="vide"):
        CsvContacts(io.BytesIO(b""), channel="sms")


def test_collect_drops_duplicates_across_sources_and_caps_error_details():
    seen: set[str] = set()
    batches: list[list[ListEntry]] = []
    items = [ListEntry("+33612345678"), ListEntry("+33612345678"), *[EntryError("x", "bad", n) for n in range(10)]]
    report = collect_entries(items, sink=batches.append, seen=seen, max_errors=3)
    assert (report.accepted, report.duplicates, report.error_count, len(report.errors)) == (1, 1, 10, 3)
    again = collect_entries([ListEntry("+33612345678")], sink=batches.append, seen=seen)
    assert again.accepted == 0 and again.duplicates == 1


def test_hundred_thousand_rows_stream_in_bounded_memory(tmp_path):
    path = tmp_path / "contacts.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("Nom;Prénom;Portable;Email\n")
        for n in range(100_000):
            email = f"p{n}@patients.test" if n % 1000 else "pas une adresse"
            f.write(f"NOM{n};Prénom{n};06{n:08d};{email}\n")
    size_mb = path.stat().st_size / 1e6
    total = 0
    tracemalloc.start()
    with path.open("rb") as binary:
        # The email channel: phone numbers are checked on the small files above, and parsing
        # 100,000 of them under tracemalloc would only make this test slow.
        contacts = CsvContacts(binary, channel="email")

        def sink(batch):
            nonlocal total
            total += len(batch)  # a database write in the service; nothing is kept here

        report = collect_entries(contacts.rows(), sink=sink)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\nCSV 100 000 lignes ({size_mb:.1f} Mo) : pic mémoire {peak / 1e6:.1f} Mo (tracemalloc)")
    assert total == report.accepted == 99_900
    assert report.error_count == 100 and report.errors[0].line == 2


# Overseas France: one mobile per territory, in the spellings found in practices' files.
OVERSEAS = [
    ("0690 12 34 56", "+590690123456"),  # Guadeloupe
    ("06.94.20.12.34", "+594694201234"),  # Guyane
    ("+596 696 12 34 56", "+596696123456"),  # Martinique
    ("00262692123456", "+262692123456"),  # La Réunion
    ("0639201234", "+262639201234"),  # Mayotte
    ("+33 6 97 12 34 56", "+596697123456"),  # Martinique, exported with +33 by another software
]


def test_pasted_overseas_mobiles_are_accepted_in_e164():
    text = "\n".join(typed for typed, _ in OVERSEAS) + "\n06 90 12 34 56\n0639 12 34 56\n07911 123456"
    parsed = parse_pasted_list(text, channel="sms")
    assert [e.address for e in parsed.entries] == [e164 for _, e164 in OVERSEAS]
    assert parsed.duplicates == ["06 90 12 34 56"]
    hint = "Numéro de téléphone invalide (un numéro étranger s'écrit au format international, par exemple +44 7911 123456)."
    assert [(e.value, e.reason) for e in parsed.errors] == [
        ("0639 12 34 56", hint),  # not an allocated Mayotte range
        ("07911 123456", hint),  # a British mobile typed the British way
    ]


def test_csv_overseas_mobiles_are_accepted_in_e164_and_landlines_refused():
    rows = "".join(f"ILE;Patient{i};{typed}\n" for i, (typed, _) in enumerate(OVERSEAS))
    data = f"Nom;Prénom;Portable\n{rows}FIXE;Gwada;0590 12 34 56\n"
    _, rows = read(data.encode("utf-8"))
    assert [r.address for r in rows if isinstance(r, ListEntry)] == [e164 for _, e164 in OVERSEAS]
    assert [(r.line, r.value, r.reason) for r in rows if isinstance(r, EntryError)] == [
        (8, "0590 12 34 56", "05.90.12.34.56 n'est pas un numéro de portable.")
    ]


# --- Issue 13: a malformed row never ends the import; UTF-16; empty files -----------------------

TWENTY = [f"NOM{n};Prénom{n};06 12 34 56 {n:02d}\r\n" for n in range(20)]


def twenty_with(bad: str, at: int = 10) -> bytes:
    return ("Nom;Prénom;Portable\r\n" + "".join(TWENTY[:at]) + bad + "".join(TWENTY[at:])).encode("cp1252")


@pytest.mark.parametrize("bad, reason", [
    ('"DUPONT;Jean;06 11 11 11 11\r\n', "Guillemet ouvert mais jamais refermé"),
    ('DUPONT;"Jean;06 11 11 11 11\r\n', "Guillemet ouvert mais jamais refermé"),
    ("X" * 200_000 + ";Jean;06 11 11 11 11\r\n", "Champ trop long (plus de 131 072 caractères)"),
])
def test_one_malformed_row_is_listed_and_the_twenty_others_are_read(bad, reason):
    _, rows = read(twenty_with(bad))
    entries = [r for r in rows if isinstance(r, ListEntry)]
    errors = [r for r in rows if isinstance(r, EntryError)]
    assert len(entries) == 20
    assert [e.line for e in entries] == [*range(2, 12), *range(13, 23)]
    assert entries[-1] == ListEntry("+33612345619", "NOM19", "Prénom19", 22)
    assert [(e.line, e.reason.split(" :")[0]) for e in errors] == [(12, reason)]


def test_a_quote_closed_lines_later_does_not_merge_two_people():
    data = twenty_with('DUPONT;"Jean;06 11 11 11 11\r\n', at=10).replace(b"NOM12;", b'NOM12";', 1)
    _, rows = read(data)
    assert [r.line for r in rows if isinstance(r, EntryError)] == [12]
    assert len([r for r in rows if isinstance(r, ListEntry)]) == 20


def test_excel_unicode_text_utf16_with_bom_and_tabs():
    text = "Nom\tPrénom\tPortable\r\nZIMMER\tAlexis\t06 84 28 55 60\r\nGHIENNE\tÉireen\t06.13.68.29.82\r\n"
    for data in (text.encode("utf-16"), codecs.BOM_UTF16_BE + text.encode("utf-16-be"), text.encode("utf-16-le")):
        contacts, rows = read(data)
        assert contacts.layout.encoding_label == "UTF-16 (Texte Unicode)"
        assert contacts.layout.delimiter_label == "tabulation"
        assert contacts.layout.headers == ["Nom", "Prénom", "Portable"]
        assert rows == [
            ListEntry("+33684285560", "ZIMMER", "Alexis", 2),
            ListEntry("+33613682982", "GHIENNE", "Éireen", 3),
        ]


@pytest.mark.parametrize("data, expected", [
    (b"", "Fichier vide : il ne contient aucune ligne."),
    (codecs.BOM_UTF8, "Fichier vide : il ne contient aucune ligne."),
    (codecs.BOM_UTF16_LE, "Fichier vide : il ne contient aucune ligne."),
    (b"\r\n\r\n  \r\n", "Fichier vide : il ne contient aucune ligne."),
    (b"Nom;Portable\r\n\r\n", "Fichier vide : il ne contient que la ligne d'en-tête, aucun destinataire."),
])
def test_an_empty_file_says_fichier_vide(data, expected):
    with pytest.raises(CsvImportError) as caught:
        CsvContacts(io.BytesIO(data), channel="sms")
    assert str(caught.value) == expected
