"""Email types whose recipient is the correspondent ("Destinataire : correspondant"): the
patient's correspondents are offered and reached, with their relationship with the practitioner
so that @LIBRE fields resolve (``messaging.policy``)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from messaging.models import (
    Channel,
    EmailAccount,
    EmailTemplate,
    FreeField,
    Message,
    MessageStatus,
    RecipientRole,
    TemplateCategory,
)
from patients.models import CorrespondentLink, PatientCorrespondent
from tests.factories import AppointmentFactory, CorrespondentFactory, PatientFactory, PractitionerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def report_type():
    FreeField.objects.create(number=1, label="Salutation", ami="Cher ami", confrere="Cher confrère")
    account = EmailAccount.objects.create(name="Cabinet", email="cabinet@cabinet.test", smtp_host="127.0.0.1",
                                          smtp_port=1)
    return EmailTemplate.objects.create(
        category=TemplateCategory.objects.create(name="Confrères"), label="Compte rendu", account=account,
        recipient_role=RecipientRole.CORRESPONDENT, subject="Au sujet de @PPREN @PNOM",
        body_html="<p>@LIBRE_01 @CORNOM,</p><p>Votre patient @PPREN.</p>",
    )


@pytest.fixture
def patient():
    dr = PractitionerFactory(last_name="Molaire", initials="MM")
    patient = PatientFactory(first_name="Emma", last_name="Ablirant", practitioner=dr)
    dupuis = CorrespondentFactory()
    CorrespondentLink.objects.create(correspondent=dupuis, practitioner=dr, relationship="confrere")
    PatientCorrespondent.objects.create(patient=patient, correspondent=dupuis)
    return patient


def test_a_mass_mailing_to_the_correspondent_reaches_them(assistant_client, report_type, patient, on_commit):
    tomorrow = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(9)))
    appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=tomorrow)
    key = assistant_client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "email",
                                                        "ids": [appt.pk]}).url.split("/")[-3]
    assistant_client.post(reverse("mass:message", args=[key]), {"template": report_type.pk})
    response = assistant_client.post(reverse("mass:message", args=[key]), {
        "subject": report_type.subject, "body": report_type.body_html, "account": report_type.account_id})
    preview = assistant_client.get(response.url)
    assert preview.status_code == 200
    assert "dr.dupuis@confreres.test" in preview.content.decode()
    with on_commit():
        assistant_client.post(reverse("mass:send", args=[key]))
    [message] = Message.objects.all()
    assert (message.to, message.recipient_role) == ("dr.dupuis@confreres.test", RecipientRole.CORRESPONDENT)
    assert "Cher confrère DUPUIS," in message.body and "Votre patient Emma." in message.body


def test_the_email_window_offers_the_correspondent_and_reaches_them(assistant_client, report_type, patient, on_commit):
    url = reverse("sending:email", args=[patient.pk])
    page = assistant_client.get(url).content.decode()
    assert 'data-role="correspondent" value="correspondent:dr.dupuis@confreres.test"' in page
    assert "Dr DUPUIS Henri" in page and f'data-recipient="{RecipientRole.CORRESPONDENT}"' in page
    with on_commit():
        response = assistant_client.post(url, {
            "recipients": ["correspondent:dr.dupuis@confreres.test"], "account": report_type.account_id,
            "template": report_type.pk, "subject": report_type.subject, "body_html": report_type.body_html,
            "token": "c1",
        })
    assert response.status_code == 302
    [message] = Message.objects.all()
    assert (message.channel, message.to, message.recipient_role) == (
        Channel.EMAIL, "dr.dupuis@confreres.test", RecipientRole.CORRESPONDENT)
    assert message.subject == "Au sujet de Emma ABLIRANT"
    assert "Cher confrère DUPUIS," in message.body and message.status != MessageStatus.SKIPPED


def test_a_patient_without_correspondent_gets_nothing_in_their_place(assistant_client, report_type, on_commit):
    from messaging.policy import ChannelPlan, Reason, audience

    alone = PatientFactory()
    found = audience(alone, plan=ChannelPlan(email=True, email_roles=(RecipientRole.CORRESPONDENT,)))
    [nobody] = found.email
    assert nobody.reason == Reason.NO_CORRESPONDENT and not nobody.sendable
    assert mail.outbox == []


def test_the_email_window_merges_a_correspondent_type_for_the_correspondent(assistant_client, report_type, patient):
    """The defect: the window merged the type for the patient, and the email read "Cher , ..."."""
    data = assistant_client.post(reverse("sending:preview", args=[patient.pk]),
                                 {"channel": "email", "template": report_type.pk}).json()
    assert "Cher confrère DUPUIS," in data["text"] and data["subject"] == "Au sujet de Emma ABLIRANT"
    alone = PatientFactory(first_name="Seule")
    data = assistant_client.post(reverse("sending:preview", args=[alone.pk]),
                                 {"channel": "email", "template": report_type.pk}).json()
    assert "Ce patient n'a pas de correspondant : l'email ne partirait pas." in data["warnings"]


def test_a_mass_letter_to_the_correspondent_is_addressed_and_merged_for_them(assistant_client, report_type, patient):
    from messaging.mass_mailing import MassDraft, mass_preview

    dupuis = patient.correspondents.get()
    dupuis.address1, dupuis.postcode, dupuis.city = "3 rue des Confrères", "21000", "Dijon"
    dupuis.save()
    draft = MassDraft(search="patients", channel=Channel.LETTER, patient_ids=[patient.pk],
                      email_template_id=report_type.pk, body="@LIBRE_01 @CORNOM,\nVotre patient @PPREN.")
    [line] = mass_preview(draft).lines
    assert line.recipient.name == "Dr DUPUIS Henri" and line.recipient.address == "3 rue des Confrères\n21000 Dijon"
    assert line.text.startswith("Cher confrère DUPUIS,")


def test_a_correspondent_who_refuses_emails_once_the_message_is_written_gets_nothing(
    assistant_client, report_type, patient
):
    """The last-moment consent check reads the correspondent's file too, not only the
    patient's and the guardians'."""
    from messaging.dispatch import dispatch_pending

    # Without running the on-commit dispatch: the message waits in the outbox.
    assistant_client.post(reverse("sending:email", args=[patient.pk]), {
        "recipients": ["correspondent:dr.dupuis@confreres.test"], "account": report_type.account_id,
        "template": report_type.pk, "subject": report_type.subject, "body_html": report_type.body_html,
        "token": "c2",
    })
    [message] = Message.objects.all()
    assert message.status == MessageStatus.PENDING
    dupuis = patient.correspondent_links.get().correspondent
    dupuis.email_consent = False
    dupuis.save()
    dispatch_pending()
    message.refresh_from_db()
    assert message.status == MessageStatus.CANCELLED
    assert "email" in message.reason.lower() and mail.outbox == []


def _patients_with_their_correspondent(n, dr):
    appointments = []
    for i in range(n):
        p = PatientFactory(first_name=f"Corr{i}", practitioner=dr)
        doctor = CorrespondentFactory(last_name=f"Confrere{i}", email=f"dr{i}@confreres.test")
        CorrespondentLink.objects.create(correspondent=doctor, practitioner=dr, relationship="ami")
        PatientCorrespondent.objects.create(patient=p, correspondent=doctor)
        tomorrow = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(9)))
        appointments.append(AppointmentFactory(patient=p, practitioner=dr, start=tomorrow + dt.timedelta(minutes=10 * i)))
    return appointments


def test_a_mass_mailing_to_correspondents_costs_the_same_queries_for_2_or_12_rows(
    report_type, django_capture_on_commit_callbacks
):
    """The defects: the preview merged a correspondent's email without the correspondent (every
    row "Données manquantes : @LIBRE_01 : aucun correspondant" while the sent email was right);
    the correspondents of each row and the relationships of each correspondent (@LIBRE) were
    read one row at a time (two queries per row) in the preview and in the writing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.mass_mailing import (
        SEARCH_APPOINTMENTS,
        draft_apply_template,
        draft_start,
        mass_mailing_send,
        mass_preview,
    )
    from practice.models import Practice

    Practice.get()
    dr = PractitionerFactory(last_name="Molaire", initials="MM")

    def counted(n):
        appointments = _patients_with_their_correspondent(n, dr)
        draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.EMAIL, ids=[a.pk for a in appointments])
        draft_apply_template(draft, report_type)
        draft.account_id = report_type.account_id
        with CaptureQueriesContext(connection) as preview_q:
            preview = mass_preview(draft)
        # Written, not dispatched (the dispatch re-reads each correspondent's consent at the last
        # moment: one query per message, by design).
        with CaptureQueriesContext(connection) as send_q, django_capture_on_commit_callbacks(execute=False):
            mailing = mass_mailing_send(draft=draft, requested_by=None)
        texts = list(mailing.messages.order_by("pk").values_list("to", "body"))
        assert len(texts) == n and all(body.startswith("Cher ami CONFRERE") for _, body in texts)
        assert sum(line.sendable for line in preview.lines) == n, [x.recipient.skip_reason for x in preview.lines]
        return len(preview_q.captured_queries), len(send_q.captured_queries)

    counted(1)  # what is read once and kept (the free fields, the practice)
    assert counted(2) == counted(12)


def test_retrying_a_failed_correspondent_email_writes_to_that_correspondent_again(report_type, patient, settings):
    """"Renvoyer les échecs" of a mailing to correspondents: the retry rebuilt the recipient from
    the address alone, without the correspondent (the merge then lacked @CORNOM and @LIBRE and
    left the message out as "Données manquantes")."""
    from aiosmtpd.controller import Controller

    from messaging.dispatch import dispatch_pending
    from messaging.mass_mailing import (
        SEARCH_APPOINTMENTS,
        draft_apply_template,
        draft_start,
        mailing_retry_failures,
        mass_mailing_send,
    )
    from tests.messaging.sending_helpers import free_port
    from tests.messaging.test_smtp import Recorder

    settings.MESSAGING_EMAIL_BACKEND = "messaging.backends.email.EmailBackend"
    server, port = Recorder(), free_port()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        EmailAccount.objects.filter(pk=report_type.account_id).update(smtp_port=port, security="none")
        tomorrow = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(9)))
        appt = AppointmentFactory(patient=patient, practitioner=patient.practitioner, start=tomorrow)
        draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.EMAIL, ids=[appt.pk])
        draft_apply_template(draft, report_type)
        draft.account_id = report_type.account_id
        server.refuse["dr.dupuis@confreres.test"] = "550 5.1.1 Mailbox unknown"
        mailing = mass_mailing_send(draft=draft, requested_by=None)
        dispatch_pending(mailing_id=mailing.pk)
        first = mailing.messages.get()
        assert (first.status, first.reason) == (
            MessageStatus.FAILED, "Adresse refusée par le serveur de messagerie (550 5.1.1 Mailbox unknown).")

        server.refuse.clear()  # the colleague's mailbox works again
        retry = mailing_retry_failures(mailing=mailing, requested_by=None)
        again = retry.messages.get()
        assert (again.status, again.recipient_role, again.to) == (
            MessageStatus.PENDING, RecipientRole.CORRESPONDENT, "dr.dupuis@confreres.test")
        assert again.body.startswith("Cher confrère DUPUIS,")
        result = dispatch_pending(mailing_id=retry.pk)
        again.refresh_from_db()
        assert (again.status, result.sent) == (MessageStatus.SENT, 1)
        assert [m["To"] for m in server.received] == ["dr.dupuis@confreres.test"]
    finally:
        controller.stop()


def test_a_retry_to_a_correspondent_no_longer_on_file_sends_nothing_and_says_why(report_type, patient):
    from messaging.mass_mailing import mailing_retry_failures
    from messaging.outbox import mailing_create
    from messaging.policy import correspondent_recipients

    [dupuis] = correspondent_recipients(patient=patient, channel=Channel.EMAIL)
    mailing = mailing_create(channel=Channel.EMAIL, origin="mass-mailing", requested_by=None, recipients=[dupuis],
                             email_subject=report_type.subject, email_body_html=report_type.body_html,
                             account=report_type.account, signature=None, schedule_dispatch=False)
    Message.objects.filter(mailing=mailing).update(status=MessageStatus.FAILED)  # its outcome, as the report lists it
    PatientCorrespondent.objects.filter(patient=patient).delete()  # taken off the patient's file since

    with translation.override("en"):  # clicked by an English-speaking assistant
        again = mailing_retry_failures(mailing=mailing, requested_by=None).messages.get()
    assert again.status == MessageStatus.SKIPPED
    # The reason column is French whoever clicked; each reader reads it in their language.
    assert again.reason == "Ce correspondant n'est plus dans le dossier du patient (dr.dupuis@confreres.test)."
    with translation.override("en"):
        assert again.reason_shown == "This correspondent is no longer in the patient's file (dr.dupuis@confreres.test)."


def test_a_retry_to_a_correspondent_whose_address_was_corrected_writes_to_the_new_one(report_type, patient):
    # The usual story of a failed email: "Mailbox unknown", staff correct the colleague's address
    # in their file, then "Renvoyer les échecs" (the patient's own retry uses the corrected
    # address too).
    from messaging.mass_mailing import mailing_retry_failures
    from messaging.outbox import mailing_create
    from messaging.policy import correspondent_recipients

    [dupuis] = correspondent_recipients(patient=patient, channel=Channel.EMAIL)
    mailing = mailing_create(channel=Channel.EMAIL, origin="mass-mailing", requested_by=None, recipients=[dupuis],
                             email_subject=report_type.subject, email_body_html=report_type.body_html,
                             account=report_type.account, signature=None, schedule_dispatch=False)
    Message.objects.filter(mailing=mailing).update(status=MessageStatus.FAILED)
    dupuis.person.email = "cabinet.dupuis@confreres.test"
    dupuis.person.save()

    again = mailing_retry_failures(mailing=mailing, requested_by=None).messages.get()
    assert (again.status, again.to) == (MessageStatus.PENDING, "cabinet.dupuis@confreres.test")
    assert again.body.startswith("Cher confrère DUPUIS,")
