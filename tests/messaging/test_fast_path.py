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


def _dispatched_rows(settings, *, fast: bool) -> list[tuple]:
    """An email mailing of three, one of them refused at the last moment (consent withdrawn after
    it was written), dispatched on one path; what each row ends as."""
    from messaging.dispatch import dispatch_pending
    from messaging.recipients import Recipient

    settings.BULK_FAST_PATH = fast
    people = [PatientFactory(first_name=f"P{i}", email=f"p{i}@patients.test") for i in range(3)]
    mailing = mailing_create(
        channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None, schedule_dispatch=False,
        recipients=[Recipient(role="patient", name=p.first_name, address=p.email, channel=Channel.EMAIL, patient=p)
                    for p in people],
        email_subject="Rappel", email_body_html="<p>Bonjour</p>", account=make_account(name=f"Compte {fast}"),
        signature=None,
    )
    type(people[1]).objects.filter(pk=people[1].pk).update(email_consent=False)
    result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert (result.sent, result.cancelled) == (2, 1)
    return sorted(
        (m.to, m.status, m.attempts, m.handed_at is None, m.error_code, bool(m.provider_id), m.claimed_by)
        for m in Message.objects.filter(mailing=mailing)
    )


def test_dispatch_writes_the_same_rows_on_both_paths(settings, no_quiet_hours):
    """The outcome of each message, the next hand-over and its last-moment read: one statement
    on the fast path, three in one transaction on the plain one; the same rows either way. The
    message refused by its check was handed over with the read, then taken back: cancelled,
    never in flight, its attempt given back, no Message-ID."""
    fast = _dispatched_rows(settings, fast=True)
    plain = _dispatched_rows(settings, fast=False)
    assert fast == plain
    assert ("p1@patients.test", "cancelled", 0, True, "no-email-consent", False, "") in fast
    assert [row[1:] for row in fast if row[0] != "p1@patients.test"] == [("sent", 1, False, "", True, "")] * 2


def test_together_gives_the_same_counts_and_row_on_both_paths(settings):
    """practice.bulk.Together: writes then a read about the last write's row; nothing read when
    that write changed nothing; a compiled statement run again with other values. (The read
    must not be about what the writes change: on the fast path it sees the rows as they were
    when the statement began.)"""
    from practice.bulk import Together

    patients = [PatientFactory(first_name=f"T{i}", last_name=f"L{i}") for i in range(3)]
    Patient = type(patients[0])

    def rename(*, pk: int, name: str):
        return Patient.objects.filter(pk=pk), {"first_name": name}

    def read(*, pk: int):
        return Patient.objects.filter(pk=pk).values_list("last_name", "sms_consent")

    outcomes = {}
    for fast in (True, False):
        settings.BULK_FAST_PATH = fast
        together = Together()
        outcomes[fast] = [
            together.run([(rename, {"pk": patients[0].pk, "name": f"A{fast}"}),
                          (rename, {"pk": patients[1].pk, "name": f"B{fast}"})], (read, {"pk": patients[1].pk})),
            together.run([(rename, {"pk": patients[1].pk, "name": f"C{fast}"}),
                          (rename, {"pk": patients[2].pk, "name": f"D{fast}"})], (read, {"pk": patients[2].pk})),
            together.run([(rename, {"pk": patients[0].pk, "name": "E"}), (rename, {"pk": -1, "name": "F"})],
                         (read, {"pk": patients[0].pk})),
            together.run([], (read, {"pk": -1})),
        ]
    assert outcomes[True] == outcomes[False] == [([1, 1], ("L1", True)), ([1, 1], ("L2", True)), ([1, 0], None),
                                                 ([], None)]
    assert [p.first_name for p in Patient.objects.filter(pk__in=[p.pk for p in patients]).order_by("pk")] == \
        ["E", "CFalse", "DFalse"]
