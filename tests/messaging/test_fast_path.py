"""The fast path of mass mailings (practice.bulk: binary row fetches, instances built without
``__init__``, INSERT … SELECT FROM unnest) and the plain Django path (ORM iteration,
``Model.from_db``, ``bulk_create``: SQLite's, and everywhere with BULK_FAST_PATH off) write the
same messages. On SQLite both runs take the plain path; on PostgreSQL this compares the two."""

from __future__ import annotations

import datetime as dt

import pytest

from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_mailing_send
from messaging.models import Channel, MailingOrigin, Message
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from patients.models import Appointment
from patients.selectors import appointments_for_messages
from practice.bulk import fast_path
from tests.factories import AppointmentFactory, GuardianFactory, MinorPatientFactory, PatientFactory
from tests.messaging.sending_helpers import NOON, make_account

pytestmark = pytest.mark.django_db

# Every column but the ones that differ by construction between two mailings.
COLUMNS = [f.attname for f in Message._meta.concrete_fields
           if f.attname not in ("id", "mailing_id", "created_at", "updated_at", "dedupe_key")]
SMS = "@PPREN @PNOM, RDV le @RDV1 avec @RDVPRAT (@RDVNAT). Suivant : @PROCHRDV. Resp. : @RCNOM"


@pytest.fixture
def appointments():
    day = dt.date(2030, 3, 11)

    def at(h):
        return dt.datetime.combine(day, dt.time(h), tzinfo=NOON.tzinfo)

    made = [
        AppointmentFactory(start=at(8), patient=PatientFactory(first_name="Élodie", last_name="D'Almeida")),
        AppointmentFactory(start=at(9), patient=PatientFactory(first_name="Zoé", mobile="+33613682982",
                                                               email="zoe@patients.test")),
        AppointmentFactory(start=at(10), patient=MinorPatientFactory(
            first_name="Tom", civil_guardian=GuardianFactory(mobile="+33699887766", email="mere@patients.test"))),
        AppointmentFactory(start=at(11), patient=PatientFactory(first_name="Luc", mobile="")),
    ]
    AppointmentFactory(patient=made[1].patient, start=at(8) + dt.timedelta(days=30))  # @PROCHRDV
    return made


def _rows(mailing) -> list[tuple]:
    return sorted(tuple(str(v) for v in row) for row in Message.objects.filter(mailing=mailing).values_list(*COLUMNS))


def _both_paths(settings, write) -> tuple[list, list]:
    settings.BULK_FAST_PATH = True
    fast = _rows(write())
    settings.BULK_FAST_PATH = False
    assert not fast_path()
    plain = _rows(write())
    return fast, plain


def test_a_mass_mailing_writes_the_same_messages_on_both_paths(settings, appointments):
    def write():
        draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[a.pk for a in appointments])
        draft.body = SMS
        return mass_mailing_send(draft=draft, requested_by=None)

    fast, plain = _both_paths(settings, write)
    assert len(fast) >= 4 and fast == plain


def test_emails_are_written_the_same_on_both_paths(settings, appointments):
    account = make_account()

    def write():
        recipients = [r for a in appointments for r in recipients_for(patient=a.patient, channel=Channel.EMAIL)]
        return mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                              recipients=recipients, email_subject="Rappel @PNOM",
                              email_body_html="<p>Bonjour @PCIVIL @PNOM, « à bientôt »</p>", account=account,
                              signature=None, schedule_dispatch=False)

    fast, plain = _both_paths(settings, write)
    assert len(fast) >= 4 and fast == plain


def test_the_rows_of_a_mailing_load_the_same_instances_on_both_paths(settings, appointments):
    ids = [a.pk for a in appointments]
    fields = {"patient": ["first_name", "last_name", "mobile", "civil_guardian_id"], "appointment": ["start"]}
    loaded = {}
    for setting in (True, False):
        settings.BULK_FAST_PATH = setting
        found = appointments_for_messages(ids, patient_fields=fields["patient"],
                                          appointment_fields=fields["appointment"])
        loaded[setting] = {
            pk: (a.start, a.patient.first_name, a.patient.last_name, str(a.patient.mobile),
                 a.patient.civil_guardian.mobile if a.patient.civil_guardian else None,
                 a.practitioner.display_name, a.chair_id, a.nature_id, a._state.adding, a._state.db)
            for pk, a in found.items()
        }
    reference = Appointment.objects.select_related("patient__civil_guardian", "practitioner").in_bulk(ids)
    assert loaded[True] == loaded[False]
    assert {pk: row[:2] for pk, row in loaded[False].items()} == {
        pk: (a.start, a.patient.first_name) for pk, a in reference.items()
    }
