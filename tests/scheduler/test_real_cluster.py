"""Exactly once on PostgreSQL for real: two workers at once, and django-q2 clusters started by
the test (ORM broker, then Redis broker) running a due schedule into the sandbox gateway."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from django_q.models import Schedule

from messaging.gateways import locmem
from messaging.models import Message, MessageStatus, SandboxSms
from scheduler.models import RunStatus, TreatmentRun
from scheduler.runner import treatment_run
from scheduler.services import treatment_set_active
from tests.factories import AppointmentFactory, PatientFactory
from tests.processes import database_url_for_processes

from .conftest import make_treatment

ROOT = Path(__file__).resolve().parents[2]


def _appointments(practitioner, count, day):
    for i in range(count):
        AppointmentFactory(
            patient=PatientFactory(first_name=f"Patient{i}", mobile=f"+336123450{i:02d}"),
            practitioner=practitioner,
            start=timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0))) + dt.timedelta(minutes=20 * i),
        )


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_treatment_at_once_send_each_message_once(reminder, practitioner, no_quiet):
    locmem.reset()
    run_date = timezone.localdate()
    _appointments(practitioner, 6, run_date + dt.timedelta(days=1))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(treatment_run(treatment=reminder, run_date=run_date).pk)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(set(results)) == 1 and TreatmentRun.objects.get().status == RunStatus.DONE
    assert Message.objects.count() == 6
    assert sorted(s.to for s in locmem.outbox) == sorted(Message.objects.values_list("to", flat=True))
    assert Message.objects.filter(status=MessageStatus.SENT).count() == 6
    locmem.reset()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_env(extra: dict) -> dict:
    """The environment of a `manage.py qcluster` on the test database, sync off, sandbox SMS."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="practice.settings",
        DATABASE_URL=database_url_for_processes(),
        DEBUG="1",
        SECRET_KEY="tests-only-secret-key-not-used-anywhere-else-0123456789abcdef",
        SMS_BACKEND="sandbox",
        Q_WORKERS="1",
    )
    env.update(extra)
    return env


def _run_cluster_until(env: dict, done, timeout: float = 120) -> str:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if done():
                return "done"
            time.sleep(1)
        return "timeout"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if not done():
            print(out[-5000:])


def _due_treatment(sms_template, practitioner):
    today = timezone.localdate()
    _appointments(practitioner, 3, today + dt.timedelta(days=1))
    treatment = make_treatment(title="Rappel RDV J+1 (SMS)", send_sms=True, sms_template=sms_template)
    treatment_set_active(treatment=treatment, active=True)
    Schedule.objects.filter(pk=treatment.schedule_id).update(next_run=timezone.now() - dt.timedelta(minutes=1))
    return treatment, today


def _arrived() -> bool:
    close_old_connections()
    return SandboxSms.objects.count() >= 3 and TreatmentRun.objects.filter(status=RunStatus.DONE).exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_cluster_on_the_orm_broker_runs_the_due_schedule_into_the_sandbox(sms_template, practitioner, no_quiet):
    treatment, today = _due_treatment(sms_template, practitioner)
    assert _run_cluster_until(_cluster_env({}), _arrived) == "done"
    run = TreatmentRun.objects.get()
    assert (run.treatment_id, run.run_date) == (treatment.pk, today)
    bodies = sorted(SandboxSms.objects.values_list("to", "body"))
    assert len(bodies) == 3 and all("votre RDV du" in body for _, body in bodies)
    assert sorted(to for to, _ in bodies) == sorted(Message.objects.values_list("to", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_real_cluster_on_the_redis_broker_runs_the_due_schedule_into_the_sandbox(
    sms_template, practitioner, no_quiet, tmp_path
):
    redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    redis = subprocess.Popen(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        treatment, today = _due_treatment(sms_template, practitioner)
        env = _cluster_env({"REDIS_URL": f"redis://127.0.0.1:{port}/0"})
        assert _run_cluster_until(env, _arrived) == "done"
        run = TreatmentRun.objects.get()
        assert (run.treatment_id, run.run_date) == (treatment.pk, today)
        assert SandboxSms.objects.count() == 3
        # The tasks went through Redis: the ORM broker's queue table was never used.
        from django_q.models import OrmQ

        assert not OrmQ.objects.exists()
    finally:
        redis.terminate()
        redis.wait(10)


@pytest.mark.django_db(transaction=True)
def test_a_real_cluster_catches_up_a_booking_written_without_save_after_the_run(sms_template, practitioner, no_quiet):
    """The J+1 run is done; an appointment for tomorrow is then imported with ``bulk_create``
    (no signal). The cluster's every-minute heartbeat finds it and its reminder reaches the
    sandbox, linked to the run with why it was late."""
    from patients.models import Appointment
    from scheduler.models import TrackedMessage, Treatment
    from scheduler.services import heartbeat_schedule_ensure

    treatment = make_treatment(title="Rappel RDV J+1 (SMS)", send_sms=True, sms_template=sms_template)
    Treatment.objects.filter(pk=treatment.pk).update(active=True)  # active, its own schedule not due
    run = treatment_run(treatment=treatment, run_date=timezone.localdate())
    assert run.status == RunStatus.DONE and not Message.objects.exists()
    tomorrow = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(10)))
    patient = PatientFactory(first_name="Emma", mobile="+33612345099")
    Appointment.objects.bulk_create([Appointment(patient=patient, practitioner=practitioner, start=tomorrow)])
    beat = heartbeat_schedule_ensure()
    Schedule.objects.filter(pk=beat.pk).update(next_run=timezone.now() - dt.timedelta(minutes=1))

    def arrived() -> bool:
        close_old_connections()
        return SandboxSms.objects.exists()

    assert _run_cluster_until(_cluster_env({}), arrived) == "done"
    [sms] = SandboxSms.objects.all()
    assert sms.to == "+33612345099" and "votre RDV du" in sms.body
    message = Message.objects.get()
    assert TrackedMessage.objects.get(message=message).run_id == run.pk
    assert TrackedMessage.objects.get(message=message).catch_up.startswith("Rendez-vous pris le ")
