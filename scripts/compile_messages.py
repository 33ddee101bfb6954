#!/usr/bin/env python3
"""Compile locale/*/LC_MESSAGES/django.po into django.mo without GNU gettext (msgfmt), with polib.

The compiled catalogues are committed, so `make run` and `make test` serve English on a machine
without gettext; run this (or `manage.py compilemessages`, which needs msgfmt) after editing a
.po file. tests/practice/test_language.py fails while a .mo is older than its .po.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    for po_path in sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po")):
        po = polib.pofile(str(po_path))
        mo_path = po_path.with_suffix(".mo")
        po.save_as_mofile(str(mo_path))
        print(f"{mo_path.relative_to(ROOT)}: {len(po.translated_entries())} translated, "
              f"{len(po.untranslated_entries())} untranslated, {len(po.fuzzy_entries())} fuzzy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
