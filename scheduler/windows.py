"""The date logic of treatments, as pure functions of the run date.

Nothing here reads the clock: the run date (the practice's local date when a treatment fires, or
the date chosen in "Tester" / ``runjob --date``) is always an argument, so every rule is tested
with fixed dates.

Rules (docs/scheduler.md says the same for staff):

* A window is a range of whole local days ``[start, end]``; as datetimes it is
  ``[local midnight of start, local midnight after end)``, 23 h or 25 h long on the two
  daylight-saving days.
* Relative dates ("Selon un calcul de dates"): J+a to J+b from the run date. By default J counts
  calendar days (J+1 on a Friday is the Saturday, J-1 on a Monday the Sunday). With "compter en
  jours ouvrés" J counts working days, Monday to Friday (and not public holidays when that option
  is on): J+1 on a Friday is the Monday, J-1 on a Monday the Friday. Appointments held on a
  non-working day are then in no window: a practice open on Saturdays keeps calendar days.
* A window runs from its start to its end: "de J+3 à J+1", or fixed dates from the 14th to the
  1st, are refused with the reason (``window_error``) when the treatment is saved, and a run of
  such a window saved before that rule fails with the same reason instead of being silently
  read the other way round.
* "Every month on day N" runs on the last day of the months shorter than N (the 31st becomes the
  30th in April, the 28th or 29th in February).
* Birthdays use the window's days; the search (``patients.selectors.patient_criteria_search``)
  celebrates 29 February on 28 February in common years.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from django.db import models
from django.utils.translation import gettext, gettext_lazy, pgettext


class Periodicity(models.TextChoices):
    DAILY = "daily", gettext_lazy("Tous les jours")
    WORKING_DAYS = "working_days", gettext_lazy("Jours ouvrés (lundi au vendredi)")
    WEEKDAYS = "weekdays", gettext_lazy("Jours choisis")
    MONTHLY = "monthly", gettext_lazy("Tous les mois, le jour choisi")


class DateMode(models.TextChoices):
    RELATIVE = "relative", gettext_lazy("Selon un calcul de dates")
    FIXED = "fixed", gettext_lazy("Dates fixes")


WEEKDAY_CHOICES = [
    (0, gettext_lazy("Lundi")),
    (1, gettext_lazy("Mardi")),
    (2, gettext_lazy("Mercredi")),
    (3, gettext_lazy("Jeudi")),
    (4, gettext_lazy("Vendredi")),
    (5, gettext_lazy("Samedi")),
    (6, gettext_lazy("Dimanche")),
]


@dataclass(frozen=True)
class Window:
    """Whole local days from ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    def bounds(self, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
        """``[local midnight of start, local midnight after end)`` in ``tz``, returned in UTC so that
        subtracting them gives the real duration (Python subtracts same-zone datetimes by wall
        clock, which would hide the 23 h and 25 h days)."""
        begin = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz)
        finish = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return begin.astimezone(dt.UTC), finish.astimezone(dt.UTC)

    def days(self) -> Iterable[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    def contains(self, moment: dt.datetime, tz: dt.tzinfo) -> bool:
        begin, finish = self.bounds(tz)
        return begin <= moment < finish

    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%d/%m/%Y}"
        return gettext("du %(start)s au %(end)s") % {"start": f"{self.start:%d/%m/%Y}", "end": f"{self.end:%d/%m/%Y}"}


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (anonymous Gregorian algorithm, "Meeus/Jones/Butcher")."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def french_public_holidays(year: int) -> frozenset[dt.date]:
    """The eleven public holidays of metropolitan France (Alsace-Moselle's two extra days are not
    included)."""
    easter = easter_sunday(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    days = {dt.date(year, m, d) for m, d in fixed}
    days |= {easter + dt.timedelta(days=1), easter + dt.timedelta(days=39), easter + dt.timedelta(days=50)}
    return frozenset(days)


def is_working_day(day: dt.date, *, skip_holidays: bool) -> bool:
    if day.weekday() >= 5:
        return False
    return not (skip_holidays and day in french_public_holidays(day.year))


def shift_days(day: dt.date, offset: int, *, working_days: bool, skip_holidays: bool = False) -> dt.date:
    """``day`` moved by ``offset`` calendar days, or by ``offset`` working days."""
    if not working_days or offset == 0:
        return day + dt.timedelta(days=offset)
    step = 1 if offset > 0 else -1
    remaining = abs(offset)
    while remaining:
        day += dt.timedelta(days=step)
        if is_working_day(day, skip_holidays=skip_holidays):
            remaining -= 1
    return day


def j_label(offset: int) -> str:
    """ "J", "J+3", "J-1": how staff write a day relative to the run date ("D+3" in English)."""
    day = pgettext("jour d'exécution", "J")
    return day if offset == 0 else f"{day}{offset:+d}"


def window_error(
    *,
    date_mode: str,
    offset_from: int | None = 0,
    offset_to: int | None = 0,
    fixed_from: dt.date | None = None,
    fixed_to: dt.date | None = None,
) -> str:
    """Why these settings are not a window (its end before its start), in the active language; ""
    when they are one. Missing values are left to the required-field checks."""
    if date_mode == DateMode.FIXED:
        if fixed_from and fixed_to and fixed_to < fixed_from:
            return gettext(
                "La date de fin (%(end)s) est avant la date de début (%(start)s) : indiquez du %(end)s au %(start)s."
            ) % {"end": f"{fixed_to:%d/%m/%Y}", "start": f"{fixed_from:%d/%m/%Y}"}
        return ""
    if offset_from is not None and offset_to is not None and offset_to < offset_from:
        return gettext(
            "La période « de %(start)s à %(end)s » finit avant de commencer : indiquez de %(end)s à %(start)s."
        ) % {"start": j_label(offset_from), "end": j_label(offset_to)}
    return ""


def window_for(
    run_date: dt.date,
    *,
    date_mode: str,
    offset_from: int = 0,
    offset_to: int = 0,
    fixed_from: dt.date | None = None,
    fixed_to: dt.date | None = None,
    working_days: bool = False,
    skip_holidays: bool = False,
) -> Window:
    """The days a treatment searches when it runs on ``run_date``. Raises ValueError (active language)
    when fixed dates are missing or the window ends before it starts (``window_error``)."""
    error = window_error(
        date_mode=date_mode, offset_from=offset_from, offset_to=offset_to, fixed_from=fixed_from, fixed_to=fixed_to
    )
    if error:
        raise ValueError(error)
    if date_mode == DateMode.FIXED:
        if fixed_from is None or fixed_to is None:
            raise ValueError(gettext("Les dates fixes de la recherche ne sont pas renseignées."))
        return Window(fixed_from, fixed_to)
    # Shifting is monotonic (in calendar and in working days): J+a <= J+b when a <= b.
    a = shift_days(run_date, offset_from, working_days=working_days, skip_holidays=skip_holidays)
    b = shift_days(run_date, offset_to, working_days=working_days, skip_holidays=skip_holidays)
    return Window(a, b)


def runs_on(
    day: dt.date,
    *,
    periodicity: str,
    start_date: dt.date,
    weekdays: Iterable[int] = (),
    month_day: int | None = None,
    skip_holidays: bool = False,
) -> bool:
    """Whether a treatment with this periodicity runs on ``day`` (never before ``start_date``)."""
    if day < start_date:
        return False
    if periodicity == Periodicity.DAILY:
        return True
    if periodicity == Periodicity.WORKING_DAYS:
        return is_working_day(day, skip_holidays=skip_holidays)
    if periodicity == Periodicity.WEEKDAYS:
        return day.weekday() in set(weekdays)
    if periodicity == Periodicity.MONTHLY:
        if not month_day:
            return False
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(month_day, last)
    raise ValueError(gettext("Périodicité inconnue : %(periodicity)s") % {"periodicity": periodicity})


def next_run_at(
    after: dt.datetime,
    *,
    hour: dt.time,
    tz: dt.tzinfo,
    runs_on: Callable[[dt.date], bool],
    horizon_days: int = 400,
) -> dt.datetime | None:
    """The first local ``hour`` strictly after ``after`` on a day where ``runs_on`` is true, as an
    aware datetime in ``tz`` (the same wall-clock hour on daylight-saving days); None when no day
    within ``horizon_days`` qualifies."""
    local_after = after.astimezone(tz)
    day = local_after.date()
    for _ in range(horizon_days + 1):
        if runs_on(day):
            candidate = dt.datetime.combine(day, hour, tzinfo=tz)
            # Compared in UTC: same-zone comparisons are by wall clock in Python.
            if candidate.astimezone(dt.UTC) > after.astimezone(dt.UTC):
                return candidate
        day += dt.timedelta(days=1)
    return None
