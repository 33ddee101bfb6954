"""The daily planning treatment of the demo, for real: its PDF reaches the demo inbox through the
demo SMTP server (`manage.py demosmtp`, a process of its own writing into the same database),
when staff press "Lancer" and when its schedule fires.

On SQLite (the demo's database) a run that held the file in a transaction while sending waited
for a server that waited for the file: every run failed with "database is locked"."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import close_old_connections
from django.urls import reverse
from django.utils import timezone

from messaging.models import SandboxEmail
from scheduler.models import RunStatus, TreatmentKind, TreatmentRun
from scheduler.tasks import run_treatment
from scheduler.views import _today
from tests.factories import AppointmentFactory, UserFactory

from .conftest import make_treatment
from .test_real_cluster import _cluster_env, _free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_smtp(settings):
    """The demo SMTP server in its own process, on the test database; the site's mail goes to it
    (as in `make run`)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demosmtp", "--port", str(port)], cwd=ROOT, env=_cluster_env({}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        yield proc
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture
def planning(practitioner):
    staff = UserFactory(username="secretariat", email="secretariat@cabinet.test", role="Assistant(e)")
    treatment = make_treatment(kind=TreatmentKind.PLANNING, title="Planning du jour", offset_from=0, offset_to=0,
                               hour=dt.time(7, 0), active=True)
    treatment.staff_recipients.set([staff])
    day = _today()
    for i in range(3):
        AppointmentFactory(practitioner=practitioner,
                           start=timezone.make_aware(dt.datetime.combine(day, dt.time(9 + i, 0))))
    return treatment


def _inbox() -> list[SandboxEmail]:
    close_old_connections()
    return list(SandboxEmail.objects.all())


def _assert_planning_delivered(run: TreatmentRun) -> None:
    assert (run.status, run.error, run.sent) == (RunStatus.DONE, "", 1)
    [received] = _inbox()
    assert received.to == "secretariat@cabinet.test"
    assert received.subject.startswith("Planning d'activité")
    assert received.attachments == [run.document.name.rsplit("/", 1)[-1]]
    assert received.attachments[0].endswith(".pdf")


def test_lancer_delivers_the_planning_to_the_demo_inbox(demo_smtp, planning, admin_client):
    response = admin_client.post(reverse("scheduler:run_now", args=[planning.pk]))
    assert response.status_code == 302
    run = TreatmentRun.objects.get(treatment=planning)
    _assert_planning_delivered(run)


def test_the_schedule_delivers_the_planning_to_the_demo_inbox(demo_smtp, planning):
    # What the django-q2 worker runs when the treatment's schedule fires.
    assert run_treatment(planning.pk).startswith("Terminé")
    _assert_planning_delivered(TreatmentRun.objects.get(treatment=planning))


def test_a_planning_the_server_refuses_fails_the_run_with_the_reason(planning, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _free_port()  # nobody listens there
    run_treatment(planning.pk)
    run = TreatmentRun.objects.get(treatment=planning)
    assert run.status == RunStatus.FAILED and run.sent == 0
    assert run.error.startswith("Planning non envoyé : ConnectionRefusedError")
