"""The date logic of treatments, for fixed run dates: nothing here reads the clock."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from scheduler.windows import (
    DateMode,
    Periodicity,
    Window,
    french_public_holidays,
    next_run_at,
    runs_on,
    shift_days,
    window_error,
    window_for,
)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
D = dt.date


def rel(run_date, a, b, *, working=False, holidays=False):
    return window_for(
        run_date,
        date_mode=DateMode.RELATIVE,
        offset_from=a,
        offset_to=b,
        working_days=working,
        skip_holidays=holidays,
    )


@pytest.mark.parametrize(
    ("run_date", "a", "b", "working", "expected"),
    [
        # J+1 on a Friday, calendar days: the Saturday.
        (D(2025, 11, 21), 1, 1, False, (D(2025, 11, 22), D(2025, 11, 22))),
        # J+1 on a Friday, counted in working days: the Monday.
        (D(2025, 11, 21), 1, 1, True, (D(2025, 11, 24), D(2025, 11, 24))),
        # J-1 on a Monday: the Sunday, or the Friday in working days.
        (D(2025, 11, 24), -1, -1, False, (D(2025, 11, 23), D(2025, 11, 23))),
        (D(2025, 11, 24), -1, -1, True, (D(2025, 11, 21), D(2025, 11, 21))),
        # The seeds' examples: J+1 from 25/11/2019, J-1 from 29/11/2019.
        (D(2019, 11, 25), 1, 1, False, (D(2019, 11, 26), D(2019, 11, 26))),
        (D(2019, 11, 29), -1, -1, False, (D(2019, 11, 28), D(2019, 11, 28))),
        # Month and year ends.
        (D(2025, 1, 31), 1, 1, False, (D(2025, 2, 1), D(2025, 2, 1))),
        (D(2025, 12, 31), 1, 1, False, (D(2026, 1, 1), D(2026, 1, 1))),
        (D(2025, 3, 1), -1, -1, False, (D(2025, 2, 28), D(2025, 2, 28))),
        # 29 February of a leap year, both ways.
        (D(2024, 2, 28), 1, 1, False, (D(2024, 2, 29), D(2024, 2, 29))),
        (D(2024, 3, 1), -1, -1, False, (D(2024, 2, 29), D(2024, 2, 29))),
        (D(2024, 2, 29), 1, 1, False, (D(2024, 3, 1), D(2024, 3, 1))),
        # A range J+1..J+3 and J0.
        (D(2025, 6, 10), 1, 3, False, (D(2025, 6, 11), D(2025, 6, 13))),
        (D(2025, 6, 10), 0, 0, False, (D(2025, 6, 10), D(2025, 6, 10))),
    ],
)
def test_relative_windows(run_date, a, b, working, expected):
    w = rel(run_date, a, b, working=working)
    assert (w.start, w.end) == expected


def test_working_days_skip_public_holidays_when_asked():
    # Wednesday 31/12/2025: J+1 is New Year's Day, a public holiday -> Friday 2 January.
    assert rel(D(2025, 12, 31), 1, 1, working=True, holidays=True).start == D(2026, 1, 2)
    assert rel(D(2025, 12, 31), 1, 1, working=True, holidays=False).start == D(2026, 1, 1)
    # Tuesday 2025-05-27: J+2 in working days jumps over Ascension Thursday 29/05.
    assert shift_days(D(2025, 5, 27), 2, working_days=True, skip_holidays=True) == D(2025, 5, 30)


def test_a_window_that_ends_before_it_starts_is_refused_not_read_the_other_way_round():
    with pytest.raises(ValueError, match=r"« de J\+3 à J\+1 » finit avant de commencer : indiquez de J\+1 à J\+3"):
        rel(D(2025, 6, 10), 3, 1)
    with pytest.raises(ValueError, match=r"« de J-1 à J-3 »"):
        rel(D(2025, 6, 10), -1, -3)
    with pytest.raises(ValueError, match=r"La date de fin \(01/07/2025\) est avant la date de début \(14/07/2025\)"):
        window_for(D(2025, 6, 10), date_mode=DateMode.FIXED, fixed_from=D(2025, 7, 14), fixed_to=D(2025, 7, 1))
    assert window_error(date_mode=DateMode.RELATIVE, offset_from=-3, offset_to=-1) == ""
    assert window_error(date_mode=DateMode.RELATIVE, offset_from=0, offset_to=0) == ""


def test_fixed_dates_are_kept():
    w = window_for(
        D(2025, 6, 10), date_mode=DateMode.FIXED, fixed_from=D(2025, 7, 1), fixed_to=D(2025, 7, 14)
    )
    assert (w.start, w.end) == (D(2025, 7, 1), D(2025, 7, 14))
    with pytest.raises(ValueError):
        window_for(D(2025, 6, 10), date_mode=DateMode.FIXED, fixed_from=None, fixed_to=None)


def test_day_bounds_on_the_two_daylight_saving_days():
    spring = Window(D(2025, 3, 30), D(2025, 3, 30)).bounds(PARIS)
    assert spring[0] == dt.datetime(2025, 3, 29, 23, 0, tzinfo=dt.UTC)
    assert spring[1] == dt.datetime(2025, 3, 30, 22, 0, tzinfo=dt.UTC)
    assert spring[1] - spring[0] == dt.timedelta(hours=23)
    autumn = Window(D(2025, 10, 26), D(2025, 10, 26)).bounds(PARIS)
    assert autumn[0] == dt.datetime(2025, 10, 25, 22, 0, tzinfo=dt.UTC)
    assert autumn[1] - autumn[0] == dt.timedelta(hours=25)
    # A J+1 window computed on the Saturday before the spring change.
    assert rel(D(2025, 3, 29), 1, 1).bounds(PARIS)[1] - rel(D(2025, 3, 29), 1, 1).bounds(PARIS)[0] == dt.timedelta(
        hours=23
    )


def test_french_public_holidays_2025():
    assert french_public_holidays(2025) == {
        D(2025, 1, 1),
        D(2025, 4, 21),  # Easter Monday
        D(2025, 5, 1),
        D(2025, 5, 8),
        D(2025, 5, 29),  # Ascension
        D(2025, 6, 9),  # Whit Monday
        D(2025, 7, 14),
        D(2025, 8, 15),
        D(2025, 11, 1),
        D(2025, 11, 11),
        D(2025, 12, 25),
    }
    assert D(2024, 4, 1) in french_public_holidays(2024)  # Easter Monday 2024


def runs(day, periodicity, **kw):
    kw.setdefault("start_date", D(2020, 1, 1))
    return runs_on(day, periodicity=periodicity, **kw)


def test_periodicities():
    friday, saturday, monday = D(2025, 11, 21), D(2025, 11, 22), D(2025, 11, 24)
    assert runs(saturday, Periodicity.DAILY)
    assert runs(friday, Periodicity.WORKING_DAYS) and not runs(saturday, Periodicity.WORKING_DAYS)
    assert runs(monday, Periodicity.WORKING_DAYS)
    assert not runs(D(2025, 12, 25), Periodicity.WORKING_DAYS, skip_holidays=True)
    assert runs(D(2025, 12, 25), Periodicity.WORKING_DAYS, skip_holidays=False)
    assert runs(monday, Periodicity.WEEKDAYS, weekdays=[0, 2])
    assert not runs(friday, Periodicity.WEEKDAYS, weekdays=[0, 2])
    # Not before the start date.
    assert not runs(D(2019, 11, 24), Periodicity.DAILY, start_date=D(2019, 11, 25))
    assert runs(D(2019, 11, 25), Periodicity.DAILY, start_date=D(2019, 11, 25))


@pytest.mark.parametrize(
    ("day", "month_day", "expected"),
    [
        (D(2025, 3, 15), 15, True),
        (D(2025, 3, 16), 15, False),
        # The 31st of a 30-day month runs on its last day; February too, leap or not.
        (D(2025, 4, 30), 31, True),
        (D(2025, 2, 28), 30, True),
        (D(2024, 2, 28), 30, False),
        (D(2024, 2, 29), 30, True),
        (D(2025, 1, 30), 31, False),
        (D(2025, 1, 31), 31, True),
    ],
)
def test_monthly_on_a_day(day, month_day, expected):
    assert runs(day, Periodicity.MONTHLY, month_day=month_day) is expected


def every_day(day):
    return True


def test_next_run_keeps_the_wall_clock_hour_across_daylight_saving():
    seven = dt.time(7, 0)
    after = dt.datetime(2025, 3, 29, 8, 0, tzinfo=PARIS)
    nxt = next_run_at(after, hour=seven, tz=PARIS, runs_on=every_day)
    assert nxt == dt.datetime(2025, 3, 30, 7, 0, tzinfo=PARIS)
    assert nxt.astimezone(dt.UTC).hour == 5  # CEST
    autumn = next_run_at(dt.datetime(2025, 10, 25, 8, 0, tzinfo=PARIS), hour=seven, tz=PARIS, runs_on=every_day)
    assert autumn.astimezone(dt.UTC) == dt.datetime(2025, 10, 26, 6, 0, tzinfo=dt.UTC)  # CET
    # Same day when the hour is still ahead; strictly after ``after``.
    assert next_run_at(dt.datetime(2025, 6, 2, 6, 59, tzinfo=PARIS), hour=seven, tz=PARIS, runs_on=every_day) == (
        dt.datetime(2025, 6, 2, 7, 0, tzinfo=PARIS)
    )
    assert next_run_at(dt.datetime(2025, 6, 2, 7, 0, tzinfo=PARIS), hour=seven, tz=PARIS, runs_on=every_day) == (
        dt.datetime(2025, 6, 3, 7, 0, tzinfo=PARIS)
    )


def test_next_run_skips_days_the_periodicity_does_not_run():
    def working(day):
        return runs(day, Periodicity.WORKING_DAYS)

    friday_evening = dt.datetime(2025, 11, 21, 20, 0, tzinfo=PARIS)
    assert next_run_at(friday_evening, hour=dt.time(1, 0), tz=PARIS, runs_on=working) == dt.datetime(
        2025, 11, 24, 1, 0, tzinfo=PARIS
    )
    assert next_run_at(friday_evening, hour=dt.time(1, 0), tz=PARIS, runs_on=lambda d: False) is None
