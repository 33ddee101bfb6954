"""One django-q2 schedule per active treatment, at the local hour, whatever the season."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler as scheduler_tick

from scheduler.models import Treatment, TreatmentRun
from scheduler.services import cron_for, treatment_delete, treatment_save, treatment_set_active
from scheduler.windows import Periodicity

from .conftest import PARIS, make_treatment, paris

pytestmark = pytest.mark.django_db


def treatment_schedules():
    return Schedule.objects.filter(func="scheduler.tasks.run_treatment")


def test_schedule_follows_the_treatment(reminder):
    assert treatment_schedules().count() == 0  # inactive: no schedule
    treatment_set_active(treatment=reminder, active=True)
    schedule = treatment_schedules().get()
    assert reminder.schedule_id == schedule.pk
    assert (schedule.schedule_type, schedule.cron, schedule.args) == (Schedule.CRON, "0 7 * * *", repr(reminder.pk))
    local = timezone.localtime(schedule.next_run, PARIS)
    assert (local.hour, local.minute) == (7, 0) and schedule.next_run > timezone.now()

    reminder.hour = dt.time(1, 30)
    reminder.periodicity = Periodicity.WORKING_DAYS
    treatment_save(treatment=reminder)
    schedule = treatment_schedules().get()
    assert schedule.cron == "30 1 * * 1-5"
    assert timezone.localtime(schedule.next_run, PARIS).weekday() < 5

    treatment_set_active(treatment=reminder, active=False)
    assert treatment_schedules().count() == 0
    treatment_set_active(treatment=reminder, active=True)
    assert treatment_schedules().count() == 1
    treatment_delete(treatment=reminder)
    assert treatment_schedules().count() == 0 and not Treatment.objects.exists()


@pytest.mark.parametrize(
    ("fields", "cron"),
    [
        ({"periodicity": Periodicity.WEEKDAYS, "weekdays": [0, 2, 6]}, "0 7 * * 0,1,3"),
        ({"periodicity": Periodicity.MONTHLY, "month_day": 15}, "0 7 15 * *"),
        ({"periodicity": Periodicity.MONTHLY, "month_day": 31}, "0 7 28-31 * *"),
    ],
)
def test_cron_of_each_periodicity(sms_template, fields, cron):
    treatment = make_treatment(title="t", send_sms=True, sms_template=sms_template, **fields)
    assert cron_for(treatment) == cron


@pytest.mark.parametrize(
    ("before", "after_utc"),
    [
        # Spring forward (30/03/2025): 07:00 CET then 07:00 CEST.
        (paris(2025, 3, 29, 7, 0), dt.datetime(2025, 3, 30, 5, 0, tzinfo=dt.UTC)),
        # Fall back (26/10/2025): 07:00 CEST then 07:00 CET.
        (paris(2025, 10, 25, 7, 0), dt.datetime(2025, 10, 26, 6, 0, tzinfo=dt.UTC)),
    ],
)
def test_daylight_saving_days_keep_the_wall_clock_hour(reminder, before, after_utc):
    """django-q2 computes the next run of the CRON schedule itself after each run: on the
    daylight-saving days it lands on 07:00 local time, like our own next-run computation."""
    treatment_set_active(treatment=reminder, active=True)
    schedule = treatment_schedules().get()
    just_after = before + dt.timedelta(seconds=30)
    with mock.patch("django_q.models.localtime", return_value=just_after.astimezone(PARIS)):
        assert schedule.calculate_next_run() == after_utc
    from scheduler.services import treatment_next_run

    assert treatment_next_run(reminder, after=just_after) == after_utc


def test_after_downtime_a_treatment_runs_once_for_today(reminder, sms_outbox, no_quiet):
    """The cluster was down three days: the overdue schedule fires once (catch_up False) and the
    run is for the current local date, not one per missed day; a second tick does nothing."""
    treatment_set_active(treatment=reminder, active=True)
    Schedule.objects.filter(pk=reminder.schedule_id).update(next_run=timezone.now() - dt.timedelta(days=3))
    broker = get_broker()
    scheduler_tick(broker=broker)  # sync mode: the task runs inline
    today = timezone.localdate()
    assert list(TreatmentRun.objects.values_list("run_date", flat=True)) == [today]
    schedule = Schedule.objects.get(pk=reminder.schedule_id)
    assert schedule.next_run > timezone.now()
    scheduler_tick(broker=broker)
    assert TreatmentRun.objects.count() == 1


def test_task_does_nothing_on_a_day_the_periodicity_skips(sms_template):
    from scheduler.tasks import run_treatment

    today = timezone.localdate()
    skipped_weekday = (today.weekday() + 1) % 7
    treatment = make_treatment(
        title="Pas aujourd'hui", send_sms=True, sms_template=sms_template, active=True,
        periodicity=Periodicity.WEEKDAYS, weekdays=[skipped_weekday],
    )
    assert run_treatment(treatment.pk).startswith("not scheduled")
    assert run_treatment(999999) == "inactive"
    assert not TreatmentRun.objects.exists()


def test_runjob_dry_run_writes_nothing_and_runjob_runs_once(reminder, practitioner, capsys):
    from messaging.models import Message
    from tests.factories import AppointmentFactory, PatientFactory

    AppointmentFactory(patient=PatientFactory(first_name="Emma", last_name="Ablirant"), practitioner=practitioner,
                       start=paris(2025, 11, 22, 10))
    call_command("runjob", "Rappel RDV J+1 (SMS)", "--date", "2025-11-21", "--dry-run")
    out = capsys.readouterr().out
    assert "1 patient concerné, 1 message serait envoyé" in out
    assert "[serait envoyé]" in out and "à envoyer" not in out
    assert "votre RDV du 22/11/2025 à 10h00" in out
    assert not TreatmentRun.objects.exists() and not Message.objects.exists()

    call_command("runjob", str(reminder.pk), "--date", "2025-11-21")
    call_command("runjob", str(reminder.pk), "--date", "2025-11-21")
    assert TreatmentRun.objects.count() == 1 and Message.objects.count() == 1
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("runjob", "inconnu")
