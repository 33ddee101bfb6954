"""After a move, a patient without a mobile gets ONE email, with the new time: counted at a real
SMTP server on loopback (aiosmtpd), whether the move was saved (signals) or written behind
Django's back (a QuerySet.update from an agenda sync, seen only by the last-moment check)."""

from __future__ import annotations

import pytest

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, EmailAccount, Message, MessageStatus
from patients.models import Appointment
from scheduler.runner import treatment_run
from tests.factories import AppointmentFactory, PatientWithoutPhoneFactory
from tests.messaging.test_smtp import smtp  # noqa: F401 (fixture)

from .conftest import make_treatment, paris
from .test_policy_routes import RUN_DATE

NOON = paris(2025, 11, 21, 12, 0)


def _body(msg) -> str:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/html"]
    return parts[0].get_payload(decode=True).decode(parts[0].get_content_charset() or "utf-8")


@pytest.mark.parametrize("how", ["save", "update"])
@pytest.mark.django_db
def test_a_moved_appointment_of_a_patient_without_mobile_gets_one_email_at_the_smtp_server(
    how, smtp, sms_template, email_template, practitioner, django_capture_on_commit_callbacks  # noqa: F811
):
    EmailAccount.objects.filter(pk=email_template.account_id).update(smtp_port=smtp.port)
    treatment = make_treatment(title="Rappel J+1", send_sms=True, sms_template=sms_template, send_email=True,
                               email_template=email_template, email_when_no_mobile=True)
    patient = PatientWithoutPhoneFactory()
    appt = AppointmentFactory(patient=patient, practitioner=practitioner, start=paris(2025, 11, 22, 10))
    with django_capture_on_commit_callbacks(execute=False):
        treatment_run(treatment=treatment, run_date=RUN_DATE)
    new_start = paris(2025, 11, 22, 16, 30)
    with django_capture_on_commit_callbacks(execute=False):
        if how == "save":
            appt.start = new_start
            appt.save()
        else:
            Appointment.objects.filter(pk=appt.pk).update(start=new_start)
        dispatch_pending(now=NOON)
        dispatch_pending(now=NOON)

    assert [m["To"] for m in smtp.received] == [patient.email]
    assert "16h30" in _body(smtp.received[0]) and "10h00" not in _body(smtp.received[0])
    sent = Message.objects.filter(appointment=appt, channel=Channel.EMAIL, status=MessageStatus.SENT)
    assert sent.count() == 1
