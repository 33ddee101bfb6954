"""The same reminder through a mass mailing then the J+1 treatment, counted where it matters: at
the Twilio stand-in (a local HTTP server answering like Twilio's Messages API). Whether the
mailing's SMS already left or waits for the end of the quiet hours, the patient's phone gets
one reminder, and the treatment's Tester and trace name the mailing."""

from __future__ import annotations

import pytest

from messaging.dispatch import dispatch_pending
from messaging.models import Message, MessageStatus
from practice.models import Practice
from scheduler.runner import treatment_preview, treatment_run
from tests.messaging.test_twilio import FakeTwilio, gateway  # noqa: F401 (fixture)
from tests.scheduler.test_purpose import (  # noqa: F401 (fixtures)
    MORNING,
    NIGHT,
    NOON,
    RUN_DATE,
    _mass_mailing,
    appt,
    reminders_category,
)


@pytest.mark.parametrize("written_at", ["noon", "night"])
@pytest.mark.django_db
def test_a_mass_mailing_then_the_treatment_reach_twilio_once(
    written_at, gateway, appt, reminder, assistant, django_capture_on_commit_callbacks  # noqa: F811
):
    Practice.objects.update_or_create(pk=1, defaults={"sms_sender_name": "Cabinet"})
    first_dispatch = NOON if written_at == "noon" else NIGHT  # NIGHT: held by the 20h00-08h00 hours
    mailing = _mass_mailing(appt, reminder.sms_template, assistant=assistant,
                            capture=django_capture_on_commit_callbacks)
    dispatch_pending(now=first_dispatch)
    first = Message.objects.get(mailing=mailing)
    sent_to = [r["form"]["To"] for r in FakeTwilio.requests]
    assert sent_to == ([first.to] if written_at == "noon" else [])

    # The treatment's Tester sees the mailing's reminder, sent or held; the run writes it skipped.
    preview = treatment_preview(treatment=reminder, run_date=RUN_DATE)
    assert [r.skip_reason.split(" le ")[0] for r in preview.rows] == [
        "Rappel déjà envoyé" if written_at == "noon" else "Rappel déjà prévu"
    ]
    assert all(f"publipostage n°{mailing.pk}" in r.skip_reason for r in preview.rows)
    with django_capture_on_commit_callbacks(execute=False):
        run = treatment_run(treatment=reminder, run_date=RUN_DATE)
    second = Message.objects.get(mailing__in=run.mailings.all())
    assert second.status == MessageStatus.SKIPPED

    # Every dispatch that follows (08h05 next morning, then later): still one SMS at Twilio.
    dispatch_pending(now=MORNING)
    dispatch_pending(now=MORNING)
    assert [r["form"]["To"] for r in FakeTwilio.requests] == [first.to]
    first.refresh_from_db()
    assert first.status == MessageStatus.SENT and first.provider_id.startswith("SM")
