"""Dates and times in what the programmeur writes (PDFs, emails, stored texts, Tester), in the
active language: the caller chooses it (``practice.i18n.practice_speaking`` for a run, the page's
user for Tester).

Dates keep the ``26/11/2019`` form in both languages (docs/langues.md); weekday names follow the
language ("lundi" / "Monday", Django's own catalogues); times are written "10h00" in French and
"10:00" in English, as the ``heure`` filter of the pages writes them.
"""

from __future__ import annotations

import datetime as dt

from django.utils import dateformat
from django.utils.translation import gettext

from patients.templatetags.fr_format import heure


def clock(moment: dt.datetime | dt.time, tz: dt.tzinfo | None = None) -> str:
    """ "10h00" / "10:00": ``moment`` on the wall clock of ``tz`` (an aware datetime), else as it is."""
    if isinstance(moment, dt.datetime):
        if tz is not None and moment.tzinfo is not None:
            moment = moment.astimezone(tz)
        moment = moment.time()  # ``heure`` would convert an aware datetime to the site's zone
    return heure(moment)


def day_label(day: dt.date) -> str:
    """ "lundi 01/12/2025" / "Monday 01/12/2025"."""
    return dateformat.format(day, "l d/m/Y")


def moment_label(moment: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """ "01/12/2025 à 10h00" / "01/12/2025 at 10:00", on the wall clock of ``tz``."""
    if tz is not None and moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return gettext("%(date)s à %(time)s") % {"date": f"{moment:%d/%m/%Y}", "time": clock(moment)}
