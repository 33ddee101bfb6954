"""The appointment's answer fields (set by messaging.replies) follow the appointment's time."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import Appointment, AppointmentEvent, AppointmentEventKind
from patients.services import appointment_move
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def test_a_move_clears_the_confirmation_and_keeps_the_history():
    appt = AppointmentFactory()
    now = timezone.now()
    Appointment.objects.filter(pk=appt.pk).update(confirmed_at=now)
    AppointmentEvent.objects.create(appointment=appt, kind=AppointmentEventKind.CONFIRMED, text="Oui merci")
    appt = Appointment.objects.get(pk=appt.pk)
    appointment_move(appointment=appt, start=appt.start + dt.timedelta(days=2), practitioner=appt.practitioner,
                     chair=appt.chair)
    appt.refresh_from_db()
    assert appt.confirmed_at is None and appt.cancel_requested_at is None
    assert [e.text for e in appt.events.all()] == ["Oui merci"]


def test_a_save_at_the_same_time_keeps_the_confirmation():
    appt = AppointmentFactory()
    Appointment.objects.filter(pk=appt.pk).update(cancel_requested_at=timezone.now())
    appt = Appointment.objects.get(pk=appt.pk)
    appt.remark = "Apporter la radio"
    appt.save(update_fields=["remark"])
    appt.refresh_from_db()
    assert appt.cancel_requested_at is not None
