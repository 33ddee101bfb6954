"""Fixtures of the programmeur tests: the seeds' J+1 SMS reminder and J-1 missed email."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from messaging.gateways import locmem
from messaging.models import EmailTemplate, SmsTemplate, TemplateCategory
from scheduler.models import Treatment, TreatmentKind
from scheduler.runner import default_criteria
from scheduler.services import treatment_save
from tests.factories import PractitionerFactory
from tests.messaging.sending_helpers import make_account

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
REMINDER_TEXT = "Bonjour, nous vous rappelons votre RDV du @RDV1 avec le @PRAT. Cabinet @CABNOM"
MISSED_SUBJECT = "Rendez-vous manqué du @RDVDATE"
MISSED_BODY = "<p>Bonjour @PPREN @PNOM,</p><p>Vous n'êtes pas venu(e) au rendez-vous du @RDV1.</p>"


def paris(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def sms_outbox():
    locmem.reset()
    yield locmem.outbox
    locmem.reset()


@pytest.fixture
def category(db):
    return TemplateCategory.objects.get_or_create(name="Rendez-vous")[0]


@pytest.fixture
def sms_template(category):
    return SmsTemplate.objects.create(category=category, title="Rappel RDV", body=REMINDER_TEXT)


@pytest.fixture
def email_template(category):
    account = make_account()
    return EmailTemplate.objects.create(
        category=category, label="Rendez-vous manqué", account=account, subject=MISSED_SUBJECT, body_html=MISSED_BODY
    )


@pytest.fixture
def practitioner(db):
    return PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")


def make_treatment(*, kind=TreatmentKind.APPOINTMENTS, criteria=None, **fields) -> Treatment:
    values = {
        "title": f"Traitement {kind}",
        "start_date": dt.date(2019, 1, 1),
        "hour": dt.time(7, 0),
        "offset_from": 1,
        "offset_to": 1,
        "active": False,
    }
    values.update(fields)
    treatment = Treatment(kind=kind, **values)
    return treatment_save(treatment=treatment, criteria={**default_criteria(kind), **(criteria or {})})


@pytest.fixture
def reminder(sms_template):
    return make_treatment(title="Rappel RDV J+1 (SMS)", send_sms=True, sms_template=sms_template)


@pytest.fixture
def missed(email_template):
    return make_treatment(
        kind=TreatmentKind.MISSED,
        title="Relance RDV manqués J-1 (email)",
        offset_from=-1,
        offset_to=-1,
        hour=dt.time(12, 0),
        send_email=True,
        email_template=email_template,
        criteria={"exclude_with_next_appointment": True, "exclude_came_since": True},
    )


@pytest.fixture
def no_quiet(db):
    """Quiet hours off, for tests that dispatch on the real clock."""
    from practice.models import Practice

    practice = Practice.get()
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)
    practice.save()
    return practice
