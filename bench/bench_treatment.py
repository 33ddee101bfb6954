"""Benchmark: the J+1 SMS treatment for a day of N appointments, end to end (search, render,
outbox, dispatch to the sandbox gateway), at the scale of the database it runs on.

Load the benchmark volume first (``manage.py seed_demo --patients 100000 --appointments 1000000``),
then ``python bench/bench_treatment.py`` (or ``bench_treatment()`` from bench/run.py). It adds a
day of N appointments on an empty future date, runs the treatment for the day before through
``treatment_run`` and ``dispatch_pending`` with ``SMS_BACKEND`` set to the sandbox, prints the
seconds and SQL queries, and removes what it created. The queries must not depend on N: the same
treatment for 30 appointments is measured too.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()


def _measure(day: dt.date, count: int) -> dict:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from messaging.models import Mailing, SandboxSms, SmsTemplate, TemplateCategory
    from patients.models import Appointment, Patient, Practitioner
    from practice.bulk import statements
    from practice.models import Practice
    from scheduler.models import Treatment, TreatmentKind
    from scheduler.runner import default_criteria, treatment_run
    from scheduler.services import treatment_delete, treatment_save

    practitioner = Practitioner.objects.filter(active=True).first() or Practitioner.objects.create(
        last_name="Bench", first_name="Marc", initials="BCH"
    )
    patients = list(Patient.objects.exclude(mobile="").filter(sms_consent=True).order_by("pk")[:count])
    if len(patients) < count:
        raise SystemExit(f"Il faut au moins {count} patients avec portable : chargez le volume de benchmark.")
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time(8, 0), tzinfo=tz)
    appts = Appointment.objects.bulk_create(
        Appointment(patient=p, practitioner=practitioner, start=start + dt.timedelta(minutes=2 * i), duration=20)
        for i, p in enumerate(patients)
    )
    category, _ = TemplateCategory.objects.get_or_create(name="Rendez-vous")
    template, _ = SmsTemplate.objects.get_or_create(
        category=category, title="Rappel (benchmark)",
        defaults={"body": "Bonjour @PPREN, rappel de votre RDV du @RDV1 avec le @PRAT. Cabinet @CABNOM"},
    )
    treatment = treatment_save(
        treatment=Treatment(kind=TreatmentKind.APPOINTMENTS, title=f"Benchmark J+1 {count}", send_sms=True,
                            sms_template=template, offset_from=1, offset_to=1, start_date=day),
        criteria=default_criteria(TreatmentKind.APPOINTMENTS),
    )
    practice = Practice.get()
    quiet = (practice.quiet_start, practice.quiet_end)
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)
    practice.save()
    last_sandbox = SandboxSms.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    from django_q.conf import Conf

    sync = Conf.SYNC
    # django-q2 in sync mode: the dispatch queued on commit runs inline, inside the measure.
    Conf.SYNC = True
    run = None
    try:
        with override_settings(SMS_BACKEND="sandbox"):
            began = time.perf_counter()
            with CaptureQueriesContext(connection) as everything:
                with transaction.atomic():
                    with CaptureQueriesContext(connection) as run_queries:
                        run = treatment_run(treatment=treatment, run_date=day - dt.timedelta(days=1))
                    ran = time.perf_counter()
                # Leaving the block commits: the dispatch queued on commit runs here, inline.
            done = time.perf_counter()
        delivered = SandboxSms.objects.filter(pk__gt=last_sandbox).count()
        dispatch_queries = statements(everything) - statements(run_queries)
        return {
            "appointments": count,
            "seconds": round(done - began, 3),
            "run_seconds": round(ran - began, 3),
            "dispatch_seconds": round(done - ran, 3),
            # Search, render and outbox: constant whatever the number of appointments.
            "run_queries": statements(run_queries),
            # Each SMS is claimed, recorded and delivered row by row (exactly-once design): the
            # dispatch costs a constant number of queries per message.
            "dispatch_queries": dispatch_queries,
            "delivered_to_sandbox": delivered,
            "run_status": run.status,
        }
    finally:
        Conf.SYNC = sync
        practice.quiet_start, practice.quiet_end = quiet
        practice.save()
        mailing_ids = list(run.mailings.values_list("pk", flat=True)) if run is not None else []
        treatment_delete(treatment=treatment)
        Mailing.objects.filter(pk__in=mailing_ids).delete()
        SandboxSms.objects.filter(pk__gt=last_sandbox).delete()
        Appointment.objects.filter(pk__in=[a.pk for a in appts]).delete()


def bench_treatment(*, appointments: int = 300) -> list[dict]:
    """Measure the J+1 treatment for ``appointments`` and for 30 appointments (two empty future
    days); returns one dict per measure (seconds, queries, messages delivered to the sandbox)."""
    from patients.models import Appointment

    total = Appointment.objects.count()
    base = dt.date(2031, 1, 7)
    results = []
    for offset, count in ((0, 30), (7, appointments)):
        row = _measure(base + dt.timedelta(days=offset), count)
        row["database_appointments"] = total
        results.append(row)
    return results


if __name__ == "__main__":
    _setup()
    for line in bench_treatment():
        print(line)
