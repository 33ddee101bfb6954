"""An SMS that asks for an answer leaves from the practice's reply number for the gateway (an
alphanumeric sender cannot receive SMS): what Twilio's and OVH's stand-ins really receive."""

import pytest

from messaging.dispatch import dispatch_pending
from messaging.gateways.ovh import SmsBackend as OvhBackend
from messaging.gateways.twilio import SmsBackend as TwilioBackend
from messaging.models import Channel, MailingOrigin, MessageStatus, Purpose, SmsTemplate, TemplateCategory
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient
from practice.models import Practice
from tests.messaging.sending_helpers import NOON
from tests.messaging.test_ovh import SERVICE, ovh_server  # noqa: F401 - fixture
from tests.messaging.test_twilio import gateway  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
SERVICE_SID = "MG" + "3" * 32


def _practice(senders):
    practice = Practice.get()
    practice.sms_sender_name = "CABINET"
    practice.sms_reply_senders = senders
    practice.save()


def _send(asks: bool, to="+33684285560"):
    category, _ = TemplateCategory.objects.get_or_create(name="Rendez-vous", defaults={"purpose": Purpose.REMINDER})
    template = SmsTemplate.objects.create(category=category, title=f"Rappel {asks}", asks_reply=asks,
                                          body="RDV demain 10h. Répondez OUI pour confirmer, NON pour annuler.")
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=[number_recipient(number=to)], template=template,
                             schedule_dispatch=False)
    assert mailing.asks_reply is asks
    dispatch_pending(mailing_id=mailing.pk, now=NOON)
    return mailing.messages.get()


def test_twilio_sends_from_the_reply_number_and_the_name_otherwise(gateway):  # noqa: F811
    _practice({"twilio": "+33757000000"})
    _send(True)
    _send(False)
    assert [r["form"]["From"] for r in gateway] == ["+33757000000", "CABINET"]


def test_twilio_sends_through_the_messaging_service_set_for_replies(gateway):  # noqa: F811
    _practice({"twilio": SERVICE_SID})
    _send(True)
    form = gateway[0]["form"]
    assert form["MessagingServiceSid"] == SERVICE_SID and "From" not in form


def test_ovh_asks_for_one_of_its_numbers_with_sender_for_response(ovh_server):  # noqa: F811
    _practice({"ovh": "senderForResponse"})
    _send(True)
    _send(False)
    jobs = [r["json"] for r in ovh_server.requests if r["method"] == "POST"]
    assert jobs[0]["senderForResponse"] is True and "sender" not in jobs[0]
    assert jobs[1]["sender"] == "CABINET" and jobs[1]["senderForResponse"] is False


def test_ovh_sends_from_the_virtual_number(ovh_server):  # noqa: F811
    _practice({"ovh": "+33757000000"})
    _send(True)
    [job] = [r for r in ovh_server.requests if r["method"] == "POST"]
    assert job["path"] == f"/1.0/sms/{SERVICE}/virtualNumbers/0033757000000/jobs"
    assert "sender" not in job["json"] and "senderForResponse" not in job["json"]
    assert "noStopClause" not in job["json"]


def test_an_unknown_sms_sent_from_the_virtual_number_is_found_there_not_sent_again(ovh_server, settings):  # noqa: F811
    """OVH lists the SMS sent from a virtual number under that number only: the check of an
    "incertain" SMS looks there too, or it would take it for never sent and send it twice."""
    from django.utils import timezone

    from messaging.reconcile import reconcile_unknown_sms

    settings.MESSAGING_RECONCILE_AFTER_MINUTES = 0
    _practice({"ovh": "+33757000000"})
    message = _send(True, to="+33600000006")  # OVH creates it, then answers 500: "incertain"
    assert message.status == MessageStatus.UNKNOWN
    [(sms_id, sms)] = ovh_server.jobs.items()
    assert sms["virtual"] == "0033757000000"
    assert reconcile_unknown_sms(now=timezone.now()).sent == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider_id == str(sms_id)
    assert len(ovh_server.jobs) == 1


@pytest.mark.parametrize(("backend", "typed", "stored"), [
    (TwilioBackend, "07 57 00 00 00", "+33757000000"),
    (TwilioBackend, "MG" + "A" * 32, "MG" + "a" * 32),
    (TwilioBackend, "", ""),
    (OvhBackend, "senderforresponse", "senderForResponse"),
    (OvhBackend, "+33 7 57 00 00 00", "+33757000000"),
])
def test_reply_senders_are_stored_in_one_form(backend, typed, stored):
    assert backend.clean_reply_sender(typed) == stored


@pytest.mark.parametrize(("backend", "typed"), [
    (TwilioBackend, "CABINET"), (TwilioBackend, "MG123"), (OvhBackend, "CABINET"),
])
def test_a_reply_sender_that_cannot_receive_sms_is_refused(backend, typed):
    with pytest.raises(ValueError):
        backend.clean_reply_sender(typed)
