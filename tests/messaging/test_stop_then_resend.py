"""STOP then "Renvoyer", end to end with real parts: the SMS leave through the Twilio stand-in
(a local HTTP server answering like Twilio's Messages API), the patients' STOP arrives as a
signed HTTP POST on the practice's inbound webhook, and staff press "Renvoyer" on the patient's
history and "Renvoyer les échecs" on the mailing. What Twilio really received is counted: nothing
leaves again for someone who replied STOP."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse
from twilio.request_validator import RequestValidator

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, Mailing, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.policy import recipients_for
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON
from tests.messaging.test_twilio import SID, TOKEN, FakeTwilio, gateway  # noqa: F401 (fixture)

# Twilio's stand-in refuses this one for good (21408: region not enabled): a FAILED message that
# "Renvoyer les échecs" would pick up.
REFUSED = "+33600000007"
ACCEPTED = "+33612345671"


def _post_stop(live_server_url: str, number: str) -> int:
    """The patient answers "Arrêt." : Twilio posts it, signed, to the inbound webhook."""
    url = f"{live_server_url}/webhooks/twilio/inbound/"
    params = {"MessageSid": f"SMin{number[-4:]}", "AccountSid": SID, "From": number, "To": "+33700000000",
              "Body": "Arrêt."}
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10).status_code


def _received(to: str) -> int:
    return sum(1 for r in FakeTwilio.requests if r["form"].get("To") == to)


@pytest.mark.django_db(transaction=True)
def test_after_stop_neither_renvoyer_nor_renvoyer_les_echecs_reaches_twilio(gateway, settings, live_server,  # noqa: F811
                                                                           assistant_client):
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    settings.PUBLIC_BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    refused = PatientFactory(first_name="Ana", mobile=REFUSED)
    accepted = PatientFactory(first_name="Bob", mobile=ACCEPTED)
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.MASS_MAILING, requested_by=None, sms_body="Le cabinet ferme samedi.",
        recipients=[*recipients_for(patient=refused, channel=Channel.SMS)[:1],
                    *recipients_for(patient=accepted, channel=Channel.SMS)[:1]],
        schedule_dispatch=False,
    )
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    statuses = dict(mailing.messages.values_list("to", "status"))
    assert statuses == {REFUSED: MessageStatus.FAILED, ACCEPTED: MessageStatus.SENT}
    assert (_received(REFUSED), _received(ACCEPTED)) == (1, 1)

    # Both answer STOP, over HTTP, signed as Twilio signs.
    assert _post_stop(live_server.url, REFUSED) == 200
    assert _post_stop(live_server.url, ACCEPTED) == 200

    # "Renvoyer" on the patient's history: refused with the reason, nothing queued.
    sent = mailing.messages.get(to=ACCEPTED)
    response = assistant_client.post(reverse("sending:resend", args=[sent.pk]), follow=True)
    assert "Renvoi impossible : A répondu STOP" in response.content.decode()

    # "Renvoyer les échecs" on the mailing: whatever it writes, nothing leaves for the STOP.
    assistant_client.post(reverse("mass:retry", args=[mailing.pk]), follow=True)
    for retry in Mailing.objects.filter(origin=MailingOrigin.RESEND):
        assert not retry.messages.filter(status=MessageStatus.PENDING).exists()
    dispatch_pending(now=NOON)
    dispatch_pending()

    assert (_received(REFUSED), _received(ACCEPTED)) == (1, 1)
    assert not Message.objects.filter(mailing__origin=MailingOrigin.RESEND,
                                      status__in=[MessageStatus.SENT, MessageStatus.SENDING]).exists()


LIST_NUMBER = "+33612345679"  # on a campaign's pasted list; no patient or guardian file holds it


@pytest.mark.django_db(transaction=True)
def test_a_number_of_no_file_that_replied_stop_gets_nothing_more(gateway, settings, live_server,  # noqa: F811
                                                                 assistant_client):
    """A number typed or pasted (a campaign's list, a test SMS) belongs to no patient or guardian
    file, so no consent flag records its STOP: the STOP reply itself is the refusal, at the last
    moment and for "Renvoyer"."""
    from messaging.policy import number_recipient
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    settings.PUBLIC_BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]

    def sms(body):
        return mailing_create(channel=Channel.SMS, origin=MailingOrigin.CAMPAIGN, requested_by=None, sms_body=body,
                              recipients=[number_recipient(number=LIST_NUMBER)], schedule_dispatch=False)

    first = sms("Réunion d'équipe lundi.")
    queued = sms("Réunion déplacée à mardi.")  # written before the STOP, leaves after it
    dispatch_pending(mailing_id=first.pk, now=NOON)
    assert _received(LIST_NUMBER) == 1
    assert _post_stop(live_server.url, LIST_NUMBER) == 200

    dispatch_pending(now=NOON)
    message = queued.messages.get()
    assert (message.status, message.error_code) == (MessageStatus.CANCELLED, "stop")
    assert message.reason.startswith("A répondu STOP")
    response = assistant_client.post(reverse("sending:resend", args=[first.messages.get().pk]), follow=True)
    assert "Renvoi impossible : A répondu STOP" in response.content.decode()
    dispatch_pending(now=NOON)
    assert _received(LIST_NUMBER) == 1

    # The number becomes a patient's who agrees to SMS again (staff set it on the file): the
    # file's consent decides from then on.
    PatientFactory(mobile=LIST_NUMBER, sms_consent=True)
    again = sms("Le cabinet ferme samedi.")
    dispatch_pending(mailing_id=again.pk, now=NOON)
    assert again.messages.get().status == MessageStatus.SENT
    assert _received(LIST_NUMBER) == 2


@pytest.mark.django_db
def test_a_campaign_list_skips_a_number_that_replied_stop_with_the_reason(assistant, no_quiet_hours):
    """Written as skipped, with the reason, where staff read the campaign's figures: not left to
    be cancelled at the last moment."""
    from messaging import campaigns
    from messaging.gateways import locmem
    from messaging.models import CampaignKind, InboundMessage
    from messaging.policy import Reason
    from tests.factories import GuardianFactory, MinorPatientFactory

    locmem.reset()
    guardian = GuardianFactory(mobile="+33699887766")
    MinorPatientFactory(civil_guardian=guardian)
    for number in (LIST_NUMBER, guardian.mobile):
        InboundMessage.objects.create(from_number=number, body="STOP", provider_id=f"SM-{number}", is_stop=True)
    type(guardian).objects.filter(pk=guardian.pk).update(sms_consent=False)
    campaign, _ = campaigns.campaign_create(
        created_by=assistant, name="Réunion", channel=Channel.SMS, kind=CampaignKind.CARE,
        body="Réunion lundi.", pasted="0612345679, 0699887766, 0611111111",
    )
    campaign = campaigns.campaign_send(campaign=campaign, requested_by=assistant)
    rows = {m.to: m for m in Message.objects.filter(mailing=campaign.mailing)}
    for number in (LIST_NUMBER, "+33699887766"):
        assert (rows[number].status, rows[number].reason) == (MessageStatus.SKIPPED, Reason.STOP.label)
    dispatch_pending(mailing_id=campaign.mailing_id)
    assert [s.to for s in locmem.outbox] == ["+33611111111"]
    locmem.reset()
