import dataclasses

import pytest
from django.core import mail

from messaging.backends import SendError
from messaging.dispatch import dispatch_pending
from messaging.gateways import locmem
from messaging.models import (
    Channel,
    Mailing,
    MailingOrigin,
    Message,
    MessageStatus,
    RecipientRole,
    Signature,
    SmsTemplate,
    TemplateCategory,
)
from messaging.outbox import mailing_create, message_hide, message_resend
from messaging.recipients import Recipient, recipients_for
from practice.bulk import fast_path
from tests.factories import (
    AppointmentFactory,
    MinorPatientFactory,
    PatientFactory,
    PatientRefusingSmsFactory,
    PractitionerFactory,
)
from tests.messaging.sending_helpers import NOON, make_account

pytestmark = pytest.mark.django_db

REMINDER = "Bonjour,\nLe @PRAT a le plaisir de vous rappeler le RDV de @PPREN @PNOM le @RDV1."


def _appointment():
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    patient = PatientFactory(first_name="Emma", last_name="Ablirant", practitioner=prat)

    from tests.messaging.sending_helpers import paris

    return AppointmentFactory(patient=patient, practitioner=prat, start=paris(2019, 10, 2, 11, 0))


def test_sms_mailing_writes_the_exact_text_then_dispatch_sends_it(sms_outbox, assistant):
    appt = _appointment()
    patient = appt.patient
    recipients = recipients_for(patient=patient, channel=Channel.SMS)[:1]
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=assistant,
        recipients=recipients, sms_body=REMINDER, appointment=appt,
    )
    msg = mailing.messages.get()
    expected = "Bonjour,\nLe Dr MOLAIRE Marc a le plaisir de vous rappeler le RDV de Emma ABLIRANT le 02/10/2019 à 11h00."
    assert msg.body == expected
    assert msg.status == MessageStatus.PENDING and msg.sms_parts == 1 and msg.to == "+33684285560"
    assert sms_outbox == []  # nothing leaves before dispatch

    result = dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert result.sent == 1
    assert [(s.to, s.body) for s in sms_outbox] == [("+33684285560", expected)]
    msg.refresh_from_db()
    assert msg.status == MessageStatus.SENT and msg.provider_id == sms_outbox[0].provider_id
    assert msg.sent_at == NOON and msg.attempts == 1

    # The same dispatch run again sends nothing twice.
    assert dispatch_pending(mailing_id=mailing.pk, now=NOON).sent == 0
    assert len(sms_outbox) == 1


def test_skipped_recipients_keep_their_reason_and_duplicates_are_sent_once(sms_outbox):
    adult = PatientFactory()
    refusing = PatientRefusingSmsFactory()
    recipients = recipients_for(patient=adult, channel=Channel.SMS) + recipients_for(patient=refusing, channel=Channel.SMS)[:1]
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                             recipients=recipients, sms_body="Bonjour @PPREN")
    rows = list(mailing.messages.order_by("id"))
    assert [r.status for r in rows] == [MessageStatus.PENDING, MessageStatus.SKIPPED, MessageStatus.SKIPPED, MessageStatus.SKIPPED]
    assert rows[1].reason == "Même destinataire que « Patient » dans cet envoi : un seul message envoyé."
    assert rows[3].reason == "Ne souhaite pas recevoir de SMS."
    dispatch_pending(now=NOON)
    assert [s.body for s in sms_outbox] == [f"Bonjour {adult.first_name}"]


def test_idempotency_key_makes_a_double_submission_harmless(sms_outbox):
    patient = PatientFactory()
    kwargs = dict(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                  recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="Test",
                  idempotency_key="form-123")
    first = mailing_create(**kwargs)
    second = mailing_create(**kwargs)
    assert first.pk == second.pk
    assert Message.objects.count() == 1
    assert Message.objects.get().dedupe_key.startswith("k:form-123|")


def test_constant_number_of_queries_for_n_recipients(django_assert_max_num_queries, sms_outbox):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def recipients(n):
        out = []
        for _ in range(n):
            out += recipients_for(patient=PatientFactory(), channel=Channel.SMS)[:1]
        return out

    few, many = recipients(2), recipients(40)
    template = SmsTemplate.objects.create(category=TemplateCategory.objects.create(name="Rendez-vous"), title="T", body=REMINDER)
    with CaptureQueriesContext(connection) as few_ctx:
        mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None, recipients=few, template=template)
    with django_assert_max_num_queries(len(few_ctx.captured_queries)):
        m = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None, recipients=many, template=template)
    assert m.messages.count() == 40
    assert len(few_ctx.captured_queries) <= 15, [q["sql"][:120] for q in few_ctx.captured_queries]


def test_recipients_loaded_with_their_relations_are_not_fetched_again(sms_outbox):
    """The merge reads the patients' and appointments' relations: loaded by the caller, they
    are used as they are; not loaded, one query per relation whatever N is."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.models import Appointment

    prat = PractitionerFactory(initials="MM")
    for _ in range(12):
        AppointmentFactory(patient=MinorPatientFactory(practitioner=prat), practitioner=prat)
    body = "@PPREN @RCNOM @RDV1 @RDVPRAT @RDVNAT @PRAT"
    build = _about

    def count(recipients):
        with CaptureQueriesContext(connection) as ctx:
            mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                           recipients=recipients, sms_body=body)
        return len(ctx.captured_queries)

    loaded = Appointment.objects.select_related(
        "patient__practitioner", "patient__civil_guardian", "patient__financial_guardian", "practitioner", "chair",
        "nature")
    bare = Appointment.objects.select_related("patient")
    count(build(bare.order_by("pk")[:1]))  # warm-up: the first mailing also creates the Practice row
    without_few = count(build(bare.order_by("pk")[:2]))
    with_relations = count(build(loaded.order_by("pk")))
    without_many = count(build(bare.order_by("pk")))
    assert without_few == without_many
    assert with_relations < without_many, (with_relations, without_many)
    texts = list(Message.objects.order_by("pk").values_list("body", flat=True))
    assert texts[3:15] == texts[15:]  # the same messages whether the caller loaded the relations or not


def test_dispatch_is_queued_on_commit_and_runs_through_django_q(django_capture_on_commit_callbacks, sms_outbox, no_quiet_hours):
    patient = PatientFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                                 recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="Coucou")
    assert len(callbacks) == 1
    # Q_CLUSTER sync=True in the test settings: the task ran inline.
    assert [s.body for s in sms_outbox] == ["Coucou"]
    assert mailing.messages.get().status == MessageStatus.SENT


def test_email_mailing_with_signature_and_read_receipt(assistant):
    account = make_account()
    signature = Signature.objects.create(label="Dr", body_html="<p>Dr Molaire</p>", placement="footer")
    patient = PatientFactory(first_name="Emma", email="emma@patients.test")
    mailing = mailing_create(
        channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=assistant,
        recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
        email_subject="Votre rendez-vous, @PPREN", email_body_html="<p>Bonjour @PPREN,</p>",
        account=account, signature=signature,
    )
    mailing.read_receipt = True
    mailing.save()
    msg = mailing.messages.get()
    assert msg.subject == "Votre rendez-vous, Emma"
    assert msg.body_html == '<p>Bonjour Emma,</p><div class="signature"><p>Dr Molaire</p></div>'
    dispatch_pending(now=NOON)
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["emma@patients.test"] and sent.subject == "Votre rendez-vous, Emma"
    assert sent.from_email == "Cabinet du Dr Molaire <secretariat@cabinet.test>"
    assert "Bonjour Emma," in sent.body and "Dr Molaire" in sent.body
    assert sent.alternatives[0][0] == msg.body_html
    assert sent.extra_headers["Disposition-Notification-To"] == "secretariat@cabinet.test"
    msg.refresh_from_db()
    assert msg.status == MessageStatus.SENT and msg.provider_id == sent.extra_headers["Message-ID"]


def test_save_sent_off_keeps_only_metadata_and_attachments_names(tmp_path):
    account = make_account()
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
                             email_subject="Plan", email_body_html="<p>Le plan d'accès</p>", account=account)
    plan = tmp_path / "plan.pdf"
    plan.write_bytes(b"%PDF-1.4 plan")
    Mailing.objects.filter(pk=mailing.pk).update(save_sent=False, keep_attachments=False)
    Message.objects.filter(mailing=mailing).update(
        attachments=[{"filename": "plan.pdf", "path": str(plan), "mimetype": "application/pdf", "source": "Plan"}]
    )
    dispatch_pending(now=NOON)
    assert mail.outbox[0].attachments == [("plan.pdf", b"%PDF-1.4 plan", "application/pdf")]
    msg = Message.objects.get()
    assert msg.status == MessageStatus.SENT
    assert (msg.body, msg.body_html, msg.body_kept) == ("", "", False)
    assert msg.subject == "Plan"
    assert msg.attachments == [{"filename": "plan.pdf", "mimetype": "application/pdf"}]
    with pytest.raises(ValueError, match="pas été conservé"):
        message_resend(message=msg, requested_by=None)


def test_keep_attachments_on_copies_the_file_into_the_history(tmp_path, settings):
    from django.core.files.storage import default_storage

    account = make_account()
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
                             email_subject="Radio", email_body_html="<p>Votre radio</p>", account=account)
    pano = tmp_path / "pano.jpg"
    pano.write_bytes(b"JPEGDATA")
    Message.objects.filter(mailing=mailing).update(attachments=[{"filename": "pano.jpg", "path": str(pano), "mimetype": "image/jpeg"}])
    dispatch_pending(now=NOON)
    msg = Message.objects.get()
    kept = msg.attachments[0]
    assert kept["kept"] is True and kept["path"].startswith(f"historique/{msg.pk}/")
    pano.unlink()  # the patient's image may change later: the history has its own copy
    with default_storage.open(kept["path"], "rb") as fh:
        assert fh.read() == b"JPEGDATA"


def test_resend_creates_a_new_mailing_with_the_same_text(sms_outbox):
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="Texte exact @PPREN")
    locmem.fail_with = SendError("Passerelle en panne", permanent=True)
    dispatch_pending(now=NOON)
    original = mailing.messages.get()
    assert original.status == MessageStatus.FAILED and original.reason == "Passerelle en panne"
    locmem.fail_with = None
    again = message_resend(message=original, requested_by=None)
    assert again.origin == MailingOrigin.RESEND
    dispatch_pending(now=NOON)
    assert [s.body for s in sms_outbox] == [f"Texte exact {patient.first_name}"]
    assert again.messages.get().status == MessageStatus.SENT
    original.refresh_from_db()
    assert original.status == MessageStatus.FAILED  # history keeps the first attempt as it was


def test_a_message_that_has_not_left_cannot_be_resent():
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="x",
                             schedule_dispatch=False)
    waiting = mailing.messages.get()
    with pytest.raises(ValueError, match="pas encore parti"):
        message_resend(message=waiting, requested_by=None)
    assert Mailing.objects.count() == 1


def test_hide_from_history():
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="x")
    msg = mailing.messages.get()
    message_hide(message=msg)
    msg.refresh_from_db()
    assert msg.hidden is True


def test_guardian_receives_the_childs_reminder():
    child = MinorPatientFactory(first_name="Luka", last_name="Kisiel")
    recipients = [r for r in recipients_for(patient=child, channel=Channel.SMS) if r.role == RecipientRole.CIVIL_GUARDIAN]
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients, sms_body="RDV de @PPREN @PNOM")
    msg = mailing.messages.get()
    assert (msg.to, msg.body, msg.recipient_role) == ("+33613682982", "RDV de Luka KISIEL", RecipientRole.CIVIL_GUARDIAN)


def test_empty_message_is_refused():
    patient = PatientFactory()
    with pytest.raises(ValueError, match="vide"):
        mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                       recipients=recipients_for(patient=patient, channel=Channel.SMS), sms_body="  ")
    assert Mailing.objects.count() == 0


def test_sms_line_endings_from_a_browser_are_normalised():
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1], sms_body="Bonjour,\r\nÀ demain")
    msg = mailing.messages.get()
    assert msg.body == "Bonjour,\nÀ demain" and msg.sms_parts == 1


def test_outbox_rows_are_written_with_every_column_and_a_dedupe_key_cannot_be_written_twice(sms_outbox):
    """The bulk insert (pipelined INSERTs on PostgreSQL) fills the model's defaults and still hits
    the unique index: the same keys written again raise, and nothing of the second attempt remains."""
    from django.db import IntegrityError, transaction

    from messaging.outbox import ROW_COLUMNS
    from practice.bulk import insert_rows

    def _insert_messages(rows):
        insert_rows(Message, ROW_COLUMNS, [tuple(r[n] for n in ROW_COLUMNS) for r in rows], count=len(rows))

    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1],
                             sms_body="Bonjour @PPREN", schedule_dispatch=False)
    m = Message.objects.get(mailing=mailing)
    assert (m.status, m.body, m.sms_parts, m.attempts, m.body_kept, m.hidden) == (
        MessageStatus.PENDING, f"Bonjour {patient.first_name}", 1, 0, True, False)
    assert m.created_at is not None and m.updated_at is not None and m.attachments == [] and m.patient == patient
    row = {f.attname: getattr(m, f.attname) for f in Message._meta.concrete_fields
           if f.attname in ("mailing_id", "channel", "patient_id", "appointment_id", "recipient_role",
                            "recipient_name", "to", "account_id", "subject", "body", "body_html", "attachments",
                            "sms_parts", "status", "reason", "note", "dedupe_key", "not_before",
                            "appointment_start", "purpose", "error_code", "missing_kept")}
    fresh = {**row, "dedupe_key": "unique-new", "attachments": [{"filename": "a.pdf", "path": "x"}]}
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert_messages([fresh, row])
    assert Message.objects.count() == 1
    _insert_messages([fresh])
    assert Message.objects.get(dedupe_key="unique-new").attachments == [{"filename": "a.pdf", "path": "x"}]


@pytest.mark.parametrize("numbers, workers, expected", [(3, 2, 1), (250, 2, 2), (250, 4, 3), (250, 1, 1)])
def test_a_large_mailing_is_dispatched_by_every_worker(numbers, workers, expected, settings, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    import django_q.tasks

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": workers}
    queued = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, **kw: queued.append((func, kw)))
    patient = PatientFactory()
    recipients = [
        Recipient(role="patient", name=f"n{i}", address=f"+3361234{i:04d}", channel=Channel.SMS, patient=patient,
                  person=patient)
        for i in range(numbers)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=recipients, sms_body="Bonjour @PPREN")
    assert len(queued) == expected  # ceil(numbers / batch), at most one per worker
    assert {kw["mailing_id"] for _, kw in queued} == {mailing.pk}
    assert {func for func, _ in queued} == {"messaging.tasks.dispatch_task"}
    assert len({kw["task_name"] for _, kw in queued}) == expected


# --- The pipelined insert (PostgreSQL): statements sent while the next messages are composed ---


@pytest.fixture
def small_statements(monkeypatch):
    """Statements of a few rows, so that a handful of recipients spans several of them."""
    import practice.bulk

    monkeypatch.setattr(practice.bulk, "_INSERT_MIN_ROWS", 1)
    monkeypatch.setattr(practice.bulk, "INSERT_STATEMENTS", 3)


def _appointments_of(n):
    from tests.messaging.sending_helpers import paris

    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    out = []
    for i in range(n):
        patient = PatientFactory(first_name=f"P{i}", practitioner=prat, mobile=f"06 12 34 56 {i:02d}")
        out.append(AppointmentFactory(patient=patient, practitioner=prat, start=paris(2030, 3, 2 + i, 9, 0)))
    return out


def _about(appointments):
    out = []
    for a in appointments:
        r = recipients_for(patient=a.patient, channel=Channel.SMS)[0]
        out.append(dataclasses.replace(r, appointment=a))
    return out


def test_messages_spanning_several_statements_are_all_written_with_their_own_values(small_statements):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    appointments = _appointments_of(7)
    PatientRefusingSmsFactory()  # not a recipient: nothing of it must leak into the rows
    recipients = _about(appointments)
    skipped = recipients_for(patient=PatientRefusingSmsFactory(first_name="Non"), channel=Channel.SMS)[0]
    with CaptureQueriesContext(connection) as ctx:
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=[*recipients, skipped], sms_body="RDV de @PPREN le @RDV1")
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "messaging_message"')]
    if fast_path():
        assert len(inserts) == 3  # INSERT_STATEMENTS, whatever the number of rows
    rows = {m.patient_id: m for m in mailing.messages.all()}
    assert len(rows) == 8
    for i, a in enumerate(appointments):
        m = rows[a.patient_id]
        assert (m.body, m.to, m.appointment_id, m.appointment_start, m.status) == (
            f"RDV de P{i} le {2 + i:02d}/03/2030 à 09h00", f"+3361234560{i}" if i < 10 else "", a.pk, a.start,
            MessageStatus.PENDING)
        assert (m.sms_parts, m.attempts, m.hidden, m.body_kept, m.note, m.sent_at) == (1, 0, False, True, "", None)
    refused = rows[skipped.patient.pk]
    assert refused.status == MessageStatus.SKIPPED and refused.reason == "Ne souhaite pas recevoir de SMS."
    assert len({m.dedupe_key for m in rows.values()}) == 8


def test_a_merge_field_that_queries_while_statements_are_in_flight(small_statements, django_assert_max_num_queries):
    """@PROCHRDV is loaded for all the messages in one query; a merge that reads the database
    in the middle of the statements (a patient's guardian not loaded here) still works."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from practice.models import Practice
    from tests.messaging.sending_helpers import paris

    appointments = _appointments_of(5)
    later = AppointmentFactory(patient=appointments[2].patient, start=paris(2030, 6, 1, 14, 30))
    body = "@PPREN, RDV le @RDV1. Suivant : @PROCHRDV. Resp. : @RCNOM"

    def create(appts):
        fresh = [a.__class__.objects.get(pk=a.pk) for a in appts]  # nothing preloaded
        recipients = _about(fresh)
        with CaptureQueriesContext(connection) as ctx:
            mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                     recipients=recipients, sms_body=body)
        # The reads: the INSERT statements follow the number of rows here (small_statements).
        return mailing, len([q for q in ctx.captured_queries if q["sql"].startswith("SELECT")])

    Practice.get()  # the practice row and its cache, as in a running site

    mailing, few = create(appointments[:2])
    mailing, many = create(appointments)
    assert few == many  # @PROCHRDV and the relations: one query each, not one per message
    bodies = {m.patient_id: m.body for m in mailing.messages.all()}
    assert bodies[later.patient_id] == (f"P2, RDV le 04/03/2030 à 09h00. Suivant : 01/06/2030 à 14h30. "
                                        f"Resp. : {later.patient.last_name.upper()}")
    assert bodies[appointments[0].patient_id].startswith("P0, RDV le 02/03/2030 à 09h00. Suivant : . Resp. : ")


def test_a_duplicate_in_a_later_statement_raises_and_leaves_nothing(small_statements):
    from django.db import IntegrityError, transaction

    appointments = _appointments_of(6)
    recipients = _about(appointments)
    # The last recipient again: same dedupe key, in the last statement.
    with pytest.raises(IntegrityError), transaction.atomic():
        mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                       recipients=[*recipients, dataclasses.replace(recipients[-1])],
                       sms_body="Bonjour @PPREN", idempotency_key="dup")
    assert not Message.objects.exists() and not Mailing.objects.exists()


def test_the_foreign_keys_of_the_outbox_are_deferred_again_afterwards(small_statements):
    """The inserts check the message table's foreign keys statement by statement; after them the
    transaction is back to Django's deferred checks (a row may point nowhere until commit)."""
    from django.db import transaction

    appointments = _appointments_of(4)
    with transaction.atomic():
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=_about(appointments), sms_body="Bonjour @PPREN")
        message = mailing.messages.first()
        missing = Mailing.objects.order_by("-pk").first().pk + 1000
        # Deferred: accepted now, as long as it is put right before commit.
        Message.objects.filter(pk=message.pk).update(mailing_id=missing)
        Message.objects.filter(pk=message.pk).update(mailing_id=mailing.pk)
    assert mailing.messages.count() == 4


@pytest.mark.django_db(transaction=True)
def test_queueing_the_dispatch_keeps_the_database_connection(settings):
    """django-q's ORM broker closes "old" connections before each task it queues outside a
    transaction (every connection, with CONN_MAX_AGE=0): the dispatch tasks of a mailing are
    queued together in one transaction, on the connection already open."""
    from django.db import connection
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from messaging.outbox import _schedule_dispatch

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 2}
    sync, Conf.SYNC = Conf.SYNC, False
    try:
        connection.ensure_connection()
        before = connection.connection
        _schedule_dispatch(42, pending=250)
        assert connection.connection is before
        assert OrmQ.objects.count() == 2
    finally:
        Conf.SYNC = sync


def test_an_error_while_composing_between_statements_leaves_nothing_and_the_connection_usable(
    small_statements, monkeypatch
):
    from django.db import transaction

    import messaging.outbox
    from messaging.compose import compose_sms

    calls = []

    def failing(**kwargs):
        calls.append(1)
        if len(calls) == 4:  # after the first statement went out
            raise RuntimeError("merge bug")
        return compose_sms(**kwargs)

    monkeypatch.setattr(messaging.outbox, "compose_sms", failing)
    recipients = _about(_appointments_of(6))
    with pytest.raises(RuntimeError, match="merge bug"), transaction.atomic():
        mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                       recipients=recipients, sms_body="Bonjour @PPREN")
    assert not Message.objects.exists() and not Mailing.objects.exists()
    monkeypatch.setattr(messaging.outbox, "compose_sms", compose_sms)
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                             recipients=recipients, sms_body="Bonjour @PPREN")
    assert mailing.messages.count() == 6


@pytest.mark.parametrize("count", [0, 1, 999, 1000, 1001, 2500, 8000, 10_492, 100_000])
def test_statement_sizes_cover_every_row_in_few_statements_the_edges_small(count):
    from practice.bulk import _INSERT_MIN_ROWS, INSERT_STATEMENTS, _statement_sizes

    sizes = _statement_sizes(count)
    assert sum(sizes) == max(count, 1) and all(size > 0 for size in sizes)
    assert len(sizes) <= INSERT_STATEMENTS
    if count <= _INSERT_MIN_ROWS:
        assert len(sizes) == 1
    else:
        # What nothing overlaps, the server's first wait and its last statement: small.
        edges, middle = (sizes[-1:], sizes[:-1]) if len(sizes) == 2 else (sizes[::len(sizes) - 1], sizes[1:-1])
        assert max(middle) - min(middle) <= 1
        assert max(edges) * 3 < min(middle)


def test_awkward_values_survive_the_joined_columns_and_the_lists(small_statements):
    """Text columns go to the server as one joined text, integer columns as their str() joined:
    quotes, backslashes, braces, commas, "None" and "NULL" as text, emoji, empty strings and
    missing ids come back as they were; a value holding the separator, or a column mixing
    types, goes as a list."""
    import datetime as dt

    from messaging.outbox import ROW_COLUMNS
    from practice.bulk import _TEXT_SEPARATOR, _array, insert_rows

    patient = PatientFactory()
    appointment = AppointmentFactory(patient=patient)
    mailing = Mailing.objects.create(origin=MailingOrigin.MASS_MAILING, channel=Channel.SMS)
    bodies = ['Dit "bonjour", l\'a {vu} \\ ici', "None", "NULL", "", "😀 é\nligne", f"un{_TEXT_SEPARATOR}deux", "x"]
    start = dt.datetime(2030, 3, 31, 1, 30, tzinfo=dt.UTC)
    rows = []
    for i, body in enumerate(bodies):
        with_appointment = i % 2 == 0
        values = {
            "mailing_id": mailing.pk, "channel": Channel.SMS, "patient_id": patient.pk if i != 3 else None,
            "appointment_id": appointment.pk if with_appointment else None,
            "appointment_start": start + dt.timedelta(hours=i) if with_appointment else None,
            "recipient_role": RecipientRole.PATIENT, "recipient_name": f"Nom,{i}", "to": f"+3361234567{i}",
            "account_id": None, "subject": "", "body": body, "body_html": "", "attachments": [],
            "sms_parts": i, "status": MessageStatus.PENDING, "reason": "", "note": "", "dedupe_key": f"k|{i}",
            "not_before": None, "purpose": "reminder" if with_appointment else "other", "error_code": "",
            "missing_kept": with_appointment,
        }
        rows.append(tuple(values[name] for name in ROW_COLUMNS))
    insert_rows(Message, ROW_COLUMNS, rows, count=len(rows))
    written = {m.dedupe_key: m for m in Message.objects.filter(mailing=mailing)}
    assert len(written) == len(bodies)
    for i, body in enumerate(bodies):
        m = written[f"k|{i}"]
        assert (m.body, m.recipient_name, m.sms_parts) == (body, f"Nom,{i}", i)
        assert m.patient_id == (patient.pk if i != 3 else None)
        assert (m.appointment_id, m.appointment_start) == (
            (appointment.pk, start + dt.timedelta(hours=i)) if i % 2 == 0 else (None, None))
    if fast_path():
        assert _array("text", ("a", "b"))[1] == [f"a{_TEXT_SEPARATOR}b", _TEXT_SEPARATOR]
        assert _array("text", ("a", f"b{_TEXT_SEPARATOR}"))[1] == [["a", f"b{_TEXT_SEPARATOR}"]]
        assert _array("bigint", (1, None, 3))[1] == ["1,None,3"]
        assert _array("bigint", (1, True))[1] == [[1, True]]


def test_relations_are_loaded_at_the_first_instance_missing_them(sms_outbox, monkeypatch):
    """Recipients whose instances all carry their relations are not walked again before the
    merge; when some do not, all of them are loaded when the first is met, in one query per
    relation."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import messaging.outbox
    from patients.models import Appointment

    passes = []
    preload = messaging.outbox._preload
    monkeypatch.setattr(messaging.outbox, "_preload", lambda *a: passes.append(1) or preload(*a))
    prat = PractitionerFactory(initials="MM")
    for i in range(6):
        AppointmentFactory(patient=PatientFactory(practitioner=prat, first_name=f"P{i}"), practitioner=prat)
    loaded = list(Appointment.objects.select_related(
        "patient__practitioner", "patient__civil_guardian", "patient__financial_guardian", "practitioner", "chair",
        "nature").order_by("pk"))
    bare = list(Appointment.objects.select_related("patient").order_by("pk"))

    def send(appointments):
        with CaptureQueriesContext(connection) as ctx:
            mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                     recipients=_about(appointments), sms_body="@PPREN @RDVPRAT @PRAT")
        assert sorted(mailing.messages.values_list("body", flat=True)) == sorted(
            f"P{i} {prat.display_name} {prat.display_name}" for i in range(6))
        return [q["sql"] for q in ctx.captured_queries if 'FROM "patients_practitioner"' in q["sql"]]

    assert send(loaded) == [] and passes == []
    # The last three lack their relations.
    relations = send([*loaded[:3], *bare[3:]])
    assert len(relations) == 2 and passes == [1]  # the appointments' practitioners, the patients': once each


@pytest.mark.parametrize("count", [2, 7, 40])
def test_recipients_given_as_they_come_with_an_estimated_count(small_statements, count):
    """The mass mailing gives its recipients as a generator and the number of rows as the
    count: every message is written, whatever the estimate, in at most INSERT_STATEMENTS
    statements, with @PROCHRDV and relations loaded as for a list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.models import Appointment
    from practice.bulk import INSERT_STATEMENTS
    from tests.messaging.sending_helpers import paris

    appointments = _appointments_of(7)
    AppointmentFactory(patient=appointments[2].patient, start=paris(2031, 1, 5, 10, 0))
    bare = list(Appointment.objects.filter(pk__in=[a.pk for a in appointments]).order_by("start"))
    consumed = []

    def recipients():
        for r in _about(bare):  # without their relations: loaded at the first one
            consumed.append(r)
            yield r

    with CaptureQueriesContext(connection) as ctx:
        mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                 recipients=recipients(), count=count, sms_body="@PPREN @RDVPRAT, puis @PROCHRDV")
    assert len(consumed) == 7
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "messaging_message"')]
    if fast_path():
        assert 1 <= len(inserts) <= INSERT_STATEMENTS == 3
    bodies = {m.patient_id: m.body for m in mailing.messages.all()}
    assert len(bodies) == 7
    prat = appointments[0].practitioner.display_name
    assert bodies[appointments[2].patient_id] == f"P2 {prat}, puis 05/01/2031 à 10h00"
    assert bodies[appointments[0].patient_id] == f"P0 {prat}, puis"


def test_next_appointment_in_a_signature_is_loaded_in_one_query_for_all():
    """@PROCHRDV written in the signature only (not the body) is loaded once for the whole
    mailing, like in the body: as many queries for 6 recipients as for 2."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.messaging.sending_helpers import paris

    account = make_account()
    signature = Signature.objects.create(label="Dr", body_html="<p>Prochain RDV : @PROCHRDV</p>", placement="footer")

    def queries(n):
        recipients = []
        for i in range(n):
            patient = PatientFactory(first_name=f"N{n}x{i}", email=f"n{n}x{i}@patients.test")
            AppointmentFactory(patient=patient, start=paris(2031, 2, 1 + i, 9, 0))
            recipients += recipients_for(patient=patient, channel=Channel.EMAIL)[:1]
        with CaptureQueriesContext(connection) as ctx:
            mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                                     recipients=recipients, email_subject="RDV", email_body_html="<p>Bonjour</p>",
                                     account=account, signature=signature, schedule_dispatch=False)
        bodies = sorted(mailing.messages.values_list("body_html", flat=True))
        assert bodies[0].endswith("<p>Prochain RDV : 01/02/2031 à 09h00</p></div>")
        return len(ctx.captured_queries)

    queries(1)  # warm-up: the practice row
    assert queries(2) == queries(6)
