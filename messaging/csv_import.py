"""Lists of recipients typed by staff: a pasted list of mobiles or emails, or a CSV file.

Both produce ``ListEntry`` (a normalised address, with the name when the file has one) and
``EntryError`` (the value, its line number in the file when there is one, and the reason in
the active language: the staff member's, as the lists are read during their request). Nothing here writes to the database: ``messaging.campaigns`` stores the entries.

The CSV reader streams: the file is read twice from disk (once to tell UTF-16, UTF-8,
Windows-1252 or Latin-1 apart, once to parse), one row at a time, so a file of 100,000 rows costs
the memory of one row plus what the caller keeps (``collect_entries`` keeps the set of addresses
seen, to drop duplicates, and at most ``max_errors`` error details).

A malformed row never ends the import: a quote opened and never closed, a field too long for the
csv module, are reported with their line number and the reading goes on at the next line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from patients import phones
from patients.models import normalize_search
from patients.phones import format_fr
from practice.validators import header_text_problem

from .models import Channel

# Commas, semicolons, new lines; tabs too, for columns pasted from a spreadsheet.
_SEPARATORS = re.compile(r"[,;\t\r\n]+")
_CHUNK = 64 * 1024
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


@dataclass(frozen=True)
class ListEntry:
    """One recipient of a list: ``address`` is an E.164 mobile (SMS) or a lower-cased email."""

    address: str
    last_name: str = ""
    first_name: str = ""
    line: int | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.last_name.upper(), self.first_name) if p)


@dataclass(frozen=True)
class EntryError:
    value: str
    reason: str
    line: int | None = None


def check_address(value: str, channel: str) -> tuple[str | None, str]:
    """(normalised address, "") for a valid mobile / email on ``channel``, else (None, reason)."""
    value = (value or "").strip()
    if channel == Channel.SMS:
        if not value:
            return None, gettext("Aucun numéro de portable.")
        # One parse and one type lookup per number (the same rules as patients.phones.normalize
        # and is_mobile, which would parse it twice): a 100,000-row file spends its time here.
        # phones.parse reads overseas mobiles dialled the French way ("0690 12 34 56").
        parsed = phones.parse(value)
        if parsed is None:
            return None, phones.invalid_reason(value)
        if phonenumbers.number_type(parsed) in _MOBILE_TYPES:
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), ""
        if phonenumbers.is_valid_number(parsed):
            return None, gettext("%(number)s n'est pas un numéro de portable.") % {"number": format_fr(parsed)}
        return None, phones.invalid_reason(value)
    if not value:
        return None, gettext("Aucune adresse email.")
    try:
        validate_email(value)
    except ValidationError:
        return None, gettext("Adresse email invalide.")
    # The domain is case-insensitive; the local part is kept lower-cased too, as every mail
    # provider in use treats it so, and duplicates then compare equal.
    return value.lower(), ""


# ---------------------------------------------------------------------------------------------
# Pasted lists
# ---------------------------------------------------------------------------------------------


@dataclass
class ParsedList:
    entries: list[ListEntry] = field(default_factory=list)
    errors: list[EntryError] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # values dropped as already in the list


def parse_pasted_list(text: str, *, channel: str) -> ParsedList:
    """The mobiles or emails of ``text`` separated by commas, semicolons, tabs or new lines:
    normalised, in order, duplicates dropped (a number typed "06 84..." and "+33 6 84..." is one),
    invalid ones listed with the reason. No limit on the number of entries."""
    parsed = ParsedList()
    seen: set[str] = set()
    for raw in _SEPARATORS.split(text or ""):
        value = raw.strip()
        if not value:
            continue
        address, reason = check_address(value, channel)
        if address is None:
            parsed.errors.append(EntryError(value=value, reason=reason))
        elif address in seen:
            parsed.duplicates.append(value)
        else:
            seen.add(address)
            parsed.entries.append(ListEntry(address=address))
    return parsed


# ---------------------------------------------------------------------------------------------
# CSV files
# ---------------------------------------------------------------------------------------------


class CsvImportError(ValueError):
    """The file as a whole cannot be used (empty, no header, no column for the channel)."""


# Header names (normalised: upper case, no accents) recognised for each field.
HEADER_NAMES = {
    "last_name": {"NOM", "NAME", "LAST NAME", "LASTNAME", "NOM DE FAMILLE", "SURNAME"},
    "first_name": {"PRENOM", "FIRST NAME", "FIRSTNAME", "PRENOMS", "GIVEN NAME"},
    "mobile": {
        "PORTABLE", "MOBILE", "TEL PORTABLE", "TELEPHONE PORTABLE", "NUMERO DE PORTABLE", "GSM",
        "TELEPHONE", "TEL", "PHONE", "NUMERO", "CELLULAIRE", "MOBILE PHONE", "N PORTABLE",
    },
    "email": {"EMAIL", "E MAIL", "MAIL", "COURRIEL", "ADRESSE EMAIL", "ADRESSE MAIL", "ADRESSE E MAIL"},
}
# Marked, not translated: the import report stores them and the page translates them when shown.
FIELD_LABELS = {"last_name": gettext_noop("nom"), "first_name": gettext_noop("prénom"),
                "mobile": gettext_noop("portable"), "email": gettext_noop("email")}


@dataclass
class CsvLayout:
    encoding: str  # "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-8", "cp1252" or "latin-1"
    delimiter: str
    headers: list[str]
    columns: dict[str, int]  # field -> column index

    # The labels below are stored in the campaign's import report in French (marked for the
    # catalogue only) and translated when the page shows them: each reader sees their language.
    @property
    def encoding_label(self) -> str:
        return {
            "utf-16": gettext_noop("UTF-16 (Texte Unicode)"),
            "utf-16-le": gettext_noop("UTF-16 (Texte Unicode)"),
            "utf-16-be": gettext_noop("UTF-16 (Texte Unicode)"),
            "utf-8-sig": gettext_noop("UTF-8 (avec BOM)"),
            "utf-8": "UTF-8",
            "cp1252": "Windows-1252",
            "latin-1": "Latin-1",
        }[self.encoding]

    @property
    def delimiter_label(self) -> str:
        return {";": gettext_noop("point-virgule"), ",": gettext_noop("virgule"),
                "\t": gettext_noop("tabulation")}[self.delimiter]

    def mapping_display(self) -> list[tuple[str, str]]:
        """[("portable", "Téléphone portable"), ...]: which column feeds which field."""
        return [(FIELD_LABELS[f], self.headers[i]) for f, i in self.columns.items()]


def _utf16_without_bom(head: bytes) -> str | None:
    """"utf-16-le" / "utf-16-be" when ``head`` looks like UTF-16 text of Latin letters (every
    other byte zero), else None."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    odd_zeros = head[1 : pairs * 2 : 2].count(0)
    even_zeros = head[0 : pairs * 2 : 2].count(0)
    if odd_zeros >= 0.6 * pairs and even_zeros == 0:
        return "utf-16-le"
    if even_zeros >= 0.6 * pairs and odd_zeros == 0:
        return "utf-16-be"
    return None


def detect_encoding(binary: BinaryIO) -> str:
    """UTF-16 when the file starts with its byte-order mark or reads as UTF-16 text (Excel's
    "Texte Unicode", tab-separated), else UTF-8 (with or without BOM) when the whole file decodes
    as UTF-8, else Windows-1252 when it decodes as such (Excel's "CSV" in France), else Latin-1
    (which decodes anything). Reads the file in chunks and leaves it at its start."""
    binary.seek(0)
    head = binary.read(_CHUNK)
    binary.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head[:4096])
    if utf16:
        return utf16
    bom = head.startswith(codecs.BOM_UTF8)
    decoders = {
        "utf-8": codecs.getincrementaldecoder("utf-8")(),
        "cp1252": codecs.getincrementaldecoder("cp1252")(),
    }
    while decoders:
        chunk = binary.read(_CHUNK)
        for name, decoder in list(decoders.items()):
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                del decoders[name]
        if not chunk:
            break
    binary.seek(0)
    if "utf-8" in decoders:
        return "utf-8-sig" if bom else "utf-8"
    return "cp1252" if "cp1252" in decoders else "latin-1"


def detect_delimiter(header_line: str) -> str:
    """The separator of the header line: the most frequent of ";", "," and tab (";" when none:
    a one-column file)."""
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ";"


def map_headers(headers: list[str]) -> dict[str, int]:
    """The column of each known field, by header name (case, accents and punctuation ignored);
    the first matching column wins."""
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        key = normalize_search(header)
        for name, accepted in HEADER_NAMES.items():
            if name not in columns and key in accepted:
                columns[name] = index
                break
    return columns


# The states of the csv module's reader that matter to tell where a record ends.
_START, _FIELD, _QUOTED, _QUOTE_IN_QUOTED = range(4)
# A quoted field may hold line breaks (an address typed on several lines), but not more than
# this: a quote left open is reported rather than allowed to swallow the rest of the file.
MAX_RECORD_LINES = 10
UNCLOSED_QUOTE = gettext_lazy(
    "Guillemet ouvert mais jamais refermé : ligne ignorée, la lecture continue à la ligne suivante.")
EMPTY_FILE = gettext_lazy("Fichier vide : il ne contient aucune ligne.")
HEADER_ONLY = gettext_lazy("Fichier vide : il ne contient que la ligne d'en-tête, aucun destinataire.")


def _quote_state(text: str, delimiter: str, state: int = _START) -> int:
    """The reader's state after ``text`` (csv's rules, non-strict): ``_QUOTED`` means a quoted
    field is still open, so the record goes on on the next line."""
    for char in text:
        if state == _QUOTED:
            if char == '"':
                state = _QUOTE_IN_QUOTED
        elif char == delimiter or char in "\r\n":
            state = _START
        elif char == '"' and state in (_START, _QUOTE_IN_QUOTED):
            state = _QUOTED
        else:
            state = _FIELD
    return state


class CsvContacts:
    """A CSV file of contacts, opened for streaming.

    ``layout`` is known once constructed (encoding, separator, header mapping); iterate
    ``rows()`` once for ``ListEntry`` / ``EntryError`` items, each with its line number in the
    file (the header is line 1; a quoted field spanning lines counts its first line). A
    malformed row is an ``EntryError`` and the rows after it are read. Raises
    ``CsvImportError`` when the file is empty (or holds only its header) or has no column for
    the channel.
    """

    def __init__(self, binary: BinaryIO, *, channel: str, columns: dict[str, int] | None = None):
        self.channel = channel
        encoding = detect_encoding(binary)
        # newline="" as the csv module asks: quoted fields may hold line breaks. A UTF-16 file
        # cut in the middle of a character must not crash the import: replace the odd byte.
        self._text = io.TextIOWrapper(
            binary, encoding=encoding, newline="", errors="replace" if encoding.startswith("utf-16") else "strict"
        )
        self._lines = enumerate(self._text, start=1)
        self._pushed: deque[tuple[int, str]] = deque()
        _, first = next(self._lines, (1, ""))
        first = first.lstrip("\ufeff")
        if not first.strip():
            self._text.detach()
            raise CsvImportError(str(EMPTY_FILE))
        delimiter = detect_delimiter(first)
        headers = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
        mapped = columns if columns is not None else map_headers(headers)
        wanted = "mobile" if channel == Channel.SMS else "email"
        if wanted not in mapped:
            self._text.detach()
            found = ", ".join(f"« {h} »" for h in headers if h) or gettext("aucune")
            raise CsvImportError(
                gettext("Aucune colonne « %(field)s » dans la ligne d'en-tête (colonnes trouvées : %(found)s).")
                % {"field": gettext(FIELD_LABELS[wanted]), "found": found}
            )
        self.layout = CsvLayout(encoding=encoding, delimiter=delimiter, headers=headers, columns=mapped)
        # Look for one line after the header, so that a file without rows says so.
        for number, line in self._lines:
            if line.strip():
                self._pushed.append((number, line))
                break
        else:
            self._text.detach()
            raise CsvImportError(str(HEADER_ONLY))

    def _next_line(self) -> tuple[int, str] | None:
        if self._pushed:
            return self._pushed.popleft()
        return next(self._lines, None)

    def _records(self) -> Iterator[tuple[int, list[str]] | EntryError]:
        """(first line, fields) of each record, or an EntryError for a line that cannot be
        read; after an error the reading resumes on the line that follows it."""
        delimiter = self.layout.delimiter
        while (item := self._next_line()) is not None:
            number, line = item
            parts = [item]
            # Fast path: without a quote a line is a whole record.
            state = _quote_state(line, delimiter) if '"' in line else _START
            while state == _QUOTED and len(parts) < MAX_RECORD_LINES:
                more = self._next_line()
                if more is None:
                    break
                parts.append(more)
                state = _quote_state(more[1], delimiter, state)
            text = line if len(parts) == 1 else "".join(p[1] for p in parts)
            try:
                row = next(csv.reader([text], delimiter=delimiter), [])
            except csv.Error as exc:
                reason = (
                    gettext("Champ trop long (plus de %(limit)s caractères) : ligne ignorée.")
                    % {"limit": f"{csv.field_size_limit():,}".replace(",", " ")}
                    if "field larger" in str(exc)
                    else gettext("Ligne mal formée (%(error)s) : ligne ignorée.") % {"error": exc}
                )
                yield EntryError(value=line.strip()[:80], reason=reason, line=number)
                self._pushed.extendleft(reversed(parts[1:]))
                continue
            # A quote left open: the record ran to the limit or the end of the file, or a
            # field spanning lines holds the separator (the open quote swallowed rows of their
            # own until a later quote closed it).
            swallowed = len(parts) > 1 and any(("\n" in f or "\r" in f) and delimiter in f for f in row)
            if state == _QUOTED or swallowed:
                yield EntryError(value=line.strip()[:80], reason=str(UNCLOSED_QUOTE), line=number)
                self._pushed.extendleft(reversed(parts[1:]))
                continue
            yield number, row

    def rows(self) -> Iterator[ListEntry | EntryError]:
        cols = self.layout.columns
        wanted = cols["mobile" if self.channel == Channel.SMS else "email"]
        last_i, first_i = cols.get("last_name"), cols.get("first_name")
        try:
            for record in self._records():
                if isinstance(record, EntryError):
                    yield record
                    continue
                start, row = record
                width = len(row)
                raw = row[wanted].strip() if wanted < width else ""
                if not raw and not "".join(row).strip():
                    continue  # a blank line
                address, reason = check_address(raw, self.channel)
                if address is None:
                    yield EntryError(value=raw or ";".join(row)[:80], reason=reason, line=start)
                    continue
                last_name = row[last_i].strip()[:80] if last_i is not None and last_i < width else ""
                first_name = row[first_i].strip()[:80] if first_i is not None and first_i < width else ""
                # A quoted cell may span lines; the names are merged into email subjects.
                if problem := header_text_problem(last_name) or header_text_problem(first_name):
                    yield EntryError(value=f"{last_name} {first_name}".strip()[:80], reason=gettext("Nom ou prénom : %(problem)s") % {"problem": problem},
                                     line=start)
                    continue
                yield ListEntry(address=address, last_name=last_name, first_name=first_name, line=start)
        finally:
            # Hand the binary file back open: the caller (Django's upload) owns it.
            self._text.detach()


@dataclass
class CollectReport:
    accepted: int = 0
    duplicates: int = 0
    error_count: int = 0
    errors: list[EntryError] = field(default_factory=list)  # the first ``max_errors`` only


def collect_entries(
    items: Iterable[ListEntry | EntryError],
    *,
    sink: Callable[[list[ListEntry]], None],
    seen: set[str] | None = None,
    batch_size: int = 2000,
    max_errors: int = 500,
) -> CollectReport:
    """Feed the valid, not yet ``seen`` entries of ``items`` to ``sink`` in batches; count the
    duplicates and errors (keeping the first ``max_errors`` for display). ``seen`` is updated,
    so several sources (a pasted list, then a file) share one de-duplication."""
    seen = set() if seen is None else seen
    report = CollectReport()
    batch: list[ListEntry] = []
    for item in items:
        if isinstance(item, EntryError):
            report.error_count += 1
            if len(report.errors) < max_errors:
                report.errors.append(item)
            continue
        if item.address in seen:
            report.duplicates += 1
            continue
        seen.add(item.address)
        batch.append(item)
        report.accepted += 1
        if len(batch) >= batch_size:
            sink(batch)
            batch = []
    if batch:
        sink(batch)
    return report
