import datetime as dt

import pytest

from messaging.dispatch import dispatch_pending, quiet_until
from messaging.models import Channel, MailingOrigin, MessageStatus
from messaging.outbox import mailing_create
from messaging.recipients import number_recipient
from tests.messaging.sending_helpers import PARIS, make_account, paris, sms_outbox  # noqa: F401

Q = {"start": dt.time(20, 0), "end": dt.time(8, 0), "tz": PARIS}


def test_evening_waits_until_next_morning():
    assert quiet_until(paris(2026, 3, 10, 21, 0), **Q) == paris(2026, 3, 11, 8, 0)


def test_after_midnight_waits_until_the_same_morning():
    assert quiet_until(paris(2026, 3, 11, 2, 30), **Q) == paris(2026, 3, 11, 8, 0)


def test_daytime_and_edges():
    assert quiet_until(paris(2026, 3, 10, 12, 0), **Q) is None
    assert quiet_until(paris(2026, 3, 10, 8, 0), **Q) is None
    assert quiet_until(paris(2026, 3, 10, 19, 59), **Q) is None
    assert quiet_until(paris(2026, 3, 10, 20, 0), **Q) == paris(2026, 3, 11, 8, 0)


def test_dst_night_opens_at_eight_local_time():
    # 30/03/2024 21:00 is UTC+1; the clocks go forward that night; 08:00 on the 31st is UTC+2.
    opening = quiet_until(paris(2024, 3, 30, 21, 0), **Q)
    assert opening.astimezone(dt.UTC) == dt.datetime(2024, 3, 31, 6, 0, tzinfo=dt.UTC)
    # Autumn: 26/10/2024 -> 27/10/2024 08:00 is UTC+1.
    opening = quiet_until(paris(2024, 10, 26, 22, 0), **Q)
    assert opening.astimezone(dt.UTC) == dt.datetime(2024, 10, 27, 7, 0, tzinfo=dt.UTC)


def test_window_within_a_day_and_disabled():
    lunch = {"start": dt.time(12, 0), "end": dt.time(14, 0), "tz": PARIS}
    assert quiet_until(paris(2026, 3, 10, 13, 0), **lunch) == paris(2026, 3, 10, 14, 0)
    assert quiet_until(paris(2026, 3, 10, 15, 0), **lunch) is None
    assert quiet_until(paris(2026, 3, 10, 21, 0), start=dt.time(0), end=dt.time(0), tz=PARIS) is None


@pytest.mark.django_db
def test_sms_at_nine_pm_waits_until_eight_and_then_leaves(sms_outbox):
    mailing = mailing_create(channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=[number_recipient(number="0684285560")], sms_body="Bonsoir", schedule_dispatch=False)
    result = dispatch_pending(now=paris(2026, 3, 10, 21, 0))
    msg = mailing.messages.get()
    assert result.deferred == 1 and sms_outbox == []
    assert msg.status == MessageStatus.PENDING and msg.attempts == 0
    assert msg.not_before == paris(2026, 3, 11, 8, 0) and msg.error_code == "quiet"
    assert msg.reason == "Heures de silence du cabinet : envoi prévu le 11/03/2026 à 08h00."
    dispatch_pending(now=paris(2026, 3, 11, 7, 59))
    assert sms_outbox == []
    dispatch_pending(now=paris(2026, 3, 11, 8, 0))
    msg.refresh_from_db()
    assert msg.status == MessageStatus.SENT and msg.reason == "" and len(sms_outbox) == 1


@pytest.mark.django_db
def test_emails_ignore_quiet_hours():
    from django.core import mail

    from tests.factories import PatientFactory
    from messaging.recipients import recipients_for

    patient = PatientFactory()
    mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                   recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1], email_subject="S",
                   email_body_html="<p>B</p>", account=make_account(), schedule_dispatch=False)
    dispatch_pending(now=paris(2026, 3, 10, 23, 0))
    assert len(mail.outbox) == 1
