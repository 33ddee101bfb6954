"""What "Renvoyer" may send again: never to someone who replied STOP or withdrew consent, and the
"incertain" messages of a mailing only on purpose, after a plain warning."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.backends import SendError
from messaging.dispatch import dispatch_pending
from messaging.gateways import locmem
from messaging.mass_mailing import SEARCH_APPOINTMENTS, draft_start, mass_mailing_send, unknown_retry_key
from messaging.models import Channel, Mailing, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from messaging.webhooks import record_inbound
from tests.factories import AppointmentFactory, PatientFactory
from tests.messaging.sending_helpers import NOON, paris

pytestmark = pytest.mark.django_db


def _sent_sms(patient):
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.SMS)[:1],
                             sms_body="Votre devis est prêt.", schedule_dispatch=False)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    msg = mailing.messages.get()
    assert msg.status == MessageStatus.SENT
    return msg


def test_resend_after_stop_is_refused_with_the_reason(assistant_client, sms_outbox):
    patient = PatientFactory(first_name="Emma", mobile="+33684285560")
    msg = _sent_sms(patient)
    record_inbound(provider_id="SM-stop", from_number="+33684285560", to_number="", body="Arrêt.")
    history = reverse("sending:history", args=[patient.pk])
    response = assistant_client.post(reverse("sending:resend", args=[msg.pk]), {"next": history}, follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Renvoi impossible : A répondu STOP : ne reçoit plus de SMS." in page
    assert not Mailing.objects.filter(origin=MailingOrigin.RESEND).exists()
    assert len(sms_outbox) == 1


def test_resend_after_email_consent_withdrawn_is_refused(assistant_client):
    from django.core import mail

    from tests.messaging.sending_helpers import make_account

    patient = PatientFactory(first_name="Emma", email="emma@patients.test")
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
                             email_subject="Devis", email_body_html="<p>Bonjour</p>", account=make_account(),
                             signature=None, schedule_dispatch=False)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    msg = mailing.messages.get()
    patient.email_consent = False
    patient.save()
    response = assistant_client.post(reverse("sending:resend", args=[msg.pk]), follow=True)
    assert "Renvoi impossible : Ne souhaite pas être contacté(e) par email." in response.content.decode()
    assert len(mail.outbox) == 1


def test_retry_of_a_mailing_offers_the_uncertain_ones_separately_with_a_warning(assistant, assistant_client,
                                                                                  sms_outbox):
    patients = [PatientFactory(first_name=n, mobile=f"+3361122334{i}") for i, n in enumerate(["Ana", "Bob", "Cloé"])]
    appts = [AppointmentFactory(patient=p, start=paris(2026, 3, 11, 9 + i)) for i, p in enumerate(patients)]
    draft = draft_start(search=SEARCH_APPOINTMENTS, channel=Channel.SMS, ids=[a.pk for a in appts])
    draft.body = "Rappel : RDV le @RDV1."
    locmem.fail_for["+33611223341"] = SendError("Numéro non attribué.", permanent=True, code="21211")
    locmem.fail_for["+33611223342"] = SendError("Réponse perdue.", permanent=False, code="timeout", ambiguous=True)
    mailing = mass_mailing_send(draft=draft, requested_by=assistant)
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    assert dict(mailing.messages.values_list("to", "status")) == {
        "+33611223340": MessageStatus.SENT, "+33611223341": MessageStatus.FAILED,
        "+33611223342": MessageStatus.UNKNOWN,
    }
    locmem.reset()
    detail = reverse("mass:detail", args=[mailing.pk])
    page = assistant_client.get(detail).content.decode()
    assert "Renvoyer les échecs" in page and "Renvoyer les incertains" in page
    assert "Ces messages ont peut-être déjà été reçus" in page

    # "Renvoyer les échecs": the failed one only, never the uncertain one.
    assistant_client.post(reverse("mass:retry", args=[mailing.pk]))
    retry = Mailing.objects.get(origin=MailingOrigin.RESEND, idempotency_key__endswith=f":{mailing.pk}",
                                label__startswith="Renvoi des échecs")
    assert list(retry.messages.values_list("to", flat=True)) == ["+33611223341"]

    # The uncertain ones: refused without the confirmation, with the warning.
    response = assistant_client.post(reverse("mass:retry-unknown", args=[mailing.pk]), follow=True)
    assert "Cochez la case pour confirmer" in response.content.decode()
    assert not Mailing.objects.filter(idempotency_key=unknown_retry_key(mailing)).exists()
    # Confirmed: a separate re-sending, once.
    assistant_client.post(reverse("mass:retry-unknown", args=[mailing.pk]), {"confirm": "1"})
    assistant_client.post(reverse("mass:retry-unknown", args=[mailing.pk]), {"confirm": "1"})
    again = Mailing.objects.get(idempotency_key=unknown_retry_key(mailing))
    assert list(again.messages.values_list("to", flat=True)) == ["+33611223342"]
    assert Message.objects.filter(mailing__origin=MailingOrigin.RESEND).count() == 2
    page = assistant_client.get(detail).content.decode()
    assert "Les messages incertains ont été renvoyés" in page
