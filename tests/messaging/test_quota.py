import datetime as dt

import pytest
from django.core import mail

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, MailingOrigin, Message, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from tests.factories import PatientFactory
from tests.messaging.sending_helpers import NOON, make_account

pytestmark = pytest.mark.django_db


def _emails(account, n):
    recipients = []
    for _ in range(n):
        recipients += recipients_for(patient=PatientFactory(), channel=Channel.EMAIL)[:1]
    return mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.MASS_MAILING, requested_by=None,
                          recipients=recipients, email_subject="Info", email_body_html="<p>Info</p>",
                          account=account, schedule_dispatch=False)


def test_hourly_quota_makes_the_rest_wait_not_fail():
    account = make_account(hourly_limit=3)
    mailing = _emails(account, 5)
    result = dispatch_pending(now=NOON)
    assert (result.sent, result.deferred, result.failed) == (3, 2, 0)
    assert len(mail.outbox) == 3
    waiting = list(mailing.messages.filter(status=MessageStatus.PENDING))
    assert len(waiting) == 2
    for m in waiting:
        assert m.error_code == "quota" and m.not_before == NOON + dt.timedelta(hours=1)
        assert m.reason.startswith("En attente (quota) : le compte « Secrétariat » a atteint sa limite de 3 envois par heure")
    dispatch_pending(now=NOON + dt.timedelta(minutes=59))
    assert len(mail.outbox) == 3
    result = dispatch_pending(now=NOON + dt.timedelta(hours=1))
    assert result.sent == 2 and len(mail.outbox) == 5
    assert set(mailing.messages.values_list("status", flat=True)) == {MessageStatus.SENT}


def test_daily_quota_counts_the_sends_of_the_last_24_hours():
    account = make_account(daily_limit=2)
    earlier = _emails(account, 2)
    dispatch_pending(now=NOON - dt.timedelta(hours=20))
    assert earlier.messages.filter(status=MessageStatus.SENT).count() == 2
    later = _emails(account, 1)
    dispatch_pending(now=NOON)
    msg = later.messages.get()
    assert msg.status == MessageStatus.PENDING
    assert msg.not_before == NOON + dt.timedelta(hours=4)  # when the first of the two leaves the window
    assert "2 envois par jour" in msg.reason
    dispatch_pending(now=NOON + dt.timedelta(hours=4))
    msg.refresh_from_db()
    assert msg.status == MessageStatus.SENT


def test_quota_is_per_account():
    busy = make_account(name="Chargé", hourly_limit=1)
    free = make_account(name="Libre")
    _emails(busy, 2)
    _emails(free, 2)
    dispatch_pending(now=NOON)
    assert Message.objects.filter(account=busy, status=MessageStatus.SENT).count() == 1
    assert Message.objects.filter(account=free, status=MessageStatus.SENT).count() == 2


def test_waiting_emails_are_announced_as_emails_and_never_at_a_past_time(assistant_client):
    """The mass-mailing report and the result page said "les SMS partiront" for emails, and
    kept showing the planned time once it had passed."""
    from django.urls import reverse
    from django.utils import timezone

    account = make_account(hourly_limit=1)
    mailing = _emails(account, 2)
    now = timezone.now()
    dispatch_pending(now=now)  # one leaves, the other waits an hour for the quota
    local = timezone.localtime(now + dt.timedelta(hours=1))
    expected = (
        f"En attente : les emails partiront le {local:%d/%m/%Y} à {local:%H}h{local:%M} "
        "(quota du compte ou nouvel essai)."
    )
    detail = assistant_client.get(reverse("mass:detail", args=[mailing.pk])).content.decode()
    assert expected in detail and "les SMS partiront" not in detail
    assert "envoi prévu le" in assistant_client.get(reverse("sending:result", args=[mailing.pk])).content.decode()
    assert assistant_client.get(reverse("mass:status", args=[mailing.pk])).json()["deferred_text"] == expected
    result = assistant_client.get(reverse("sending:result", args=[mailing.pk])).content.decode()
    assert expected in result

    # The hour has passed but the dispatch schedule has not run yet: no past time is announced.
    Message.objects.filter(mailing=mailing, status=MessageStatus.PENDING).update(not_before=now - dt.timedelta(minutes=5))
    detail = assistant_client.get(reverse("mass:detail", args=[mailing.pk])).content.decode()
    assert "partiront" not in detail and "Envoi en cours" in detail
    assert assistant_client.get(reverse("mass:status", args=[mailing.pk])).json()["deferred_text"] == ""
    result = assistant_client.get(reverse("sending:result", args=[mailing.pk])).content.decode()
    assert 'id="waiting"' not in result and "envoi prévu le" not in result
    assert "part au prochain passage de l&#x27;envoi automatique" in result
