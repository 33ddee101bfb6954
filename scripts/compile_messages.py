#!/usr/bin/env python3
"""Compile locale/*/LC_MESSAGES/*.po (django: templates and Python; djangojs: the scripts) into .mo without GNU gettext (msgfmt), with polib,
after writing the French catalogue from the English one.

French is the source language: its strings are the msgids. It still needs a catalogue of its
own, generated here (never edited by hand), each string translated into itself:
- Django's own French catalogues come before the untranslated msgid, and some of our French
  msgids are also English msgids there ("Email" would read "Courriel", "Type" "Type"...): our
  catalogue (LOCALE_PATHS) comes first, so the French interface is the source text, unchanged;
- plurals: without an entry, gettext takes the plural for any count but 1 ("0 patients") where
  French says "0 patient" (plural from 2 on, ``n > 1``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def write_french_plurals(domain: str) -> None:
    source = ROOT / "locale" / "en" / "LC_MESSAGES" / f"{domain}.po"
    if not source.exists():
        return
    english = polib.pofile(str(source))
    french = polib.POFile(wrapwidth=110)
    french.metadata = {
        "Project-Id-Version": "dentcom",
        "Language": "fr",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": "nplurals=2; plural=(n > 1);",
    }
    for entry in english:
        if entry.obsolete:
            continue
        flags = list(set(entry.flags) - {"fuzzy"})
        if entry.msgid_plural:
            french.append(polib.POEntry(
                msgctxt=entry.msgctxt, msgid=entry.msgid, msgid_plural=entry.msgid_plural,
                msgstr_plural={0: entry.msgid, 1: entry.msgid_plural}, flags=flags,
            ))
        else:
            french.append(polib.POEntry(msgctxt=entry.msgctxt, msgid=entry.msgid, msgstr=entry.msgid, flags=flags))
    path = ROOT / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    french.save(str(path))


def main() -> int:
    for domain in ("django", "djangojs"):
        write_french_plurals(domain)
    for po_path in sorted((ROOT / "locale").glob("*/LC_MESSAGES/*.po")):
        po = polib.pofile(str(po_path))
        mo_path = po_path.with_suffix(".mo")
        po.save_as_mofile(str(mo_path))
        print(f"{mo_path.relative_to(ROOT)}: {len(po.translated_entries())} translated, "
              f"{len(po.untranslated_entries())} untranslated, {len(po.fuzzy_entries())} fuzzy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
