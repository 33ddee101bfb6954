"""The demo's reminder fits in one SMS for a real patient (no "2 SMS" surprise on day one)."""

import datetime as dt

import pytest
from django.utils import timezone

from messaging.compose import compose_sms
from scheduler.demo import BIRTHDAY_SMS, FAMILY_SMS, REMINDER_SMS
from tests.factories import AppointmentFactory, PractitionerFactory

pytestmark = pytest.mark.django_db


def test_the_demo_reminder_and_birthday_sms_are_one_gsm7_sms_each():
    from practice.models import Practice

    Practice.objects.update_or_create(pk=1, defaults={"name": "Cabinet dentaire du Parc", "phone": "+33380301240"})
    dr = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    appt = AppointmentFactory(practitioner=dr, start=timezone.make_aware(dt.datetime(2026, 11, 24, 9, 50)))
    reminder = compose_sms(body=REMINDER_SMS, appointment=appt)
    assert reminder.text.startswith("Cabinet dentaire du Parc : rappel de votre RDV du 24/11/2026 à 09h50")
    assert (reminder.segments.encoding, reminder.segments.parts) == ("GSM-7", 1)
    birthday = compose_sms(body=BIRTHDAY_SMS, patient=appt.patient)
    assert (birthday.segments.encoding, birthday.segments.parts) == ("GSM-7", 1)


def test_the_demo_family_reminder_lists_two_children_in_one_gsm7_sms():
    from practice.models import Practice
    from tests.factories import MinorPatientFactory

    Practice.objects.update_or_create(pk=1, defaults={"name": "Cabinet dentaire du Parc", "phone": "+33380301240"})
    dr = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    leo = AppointmentFactory(practitioner=dr, patient=MinorPatientFactory(first_name="Leo"),
                             start=timezone.make_aware(dt.datetime(2026, 12, 9, 14, 0)))
    emma = AppointmentFactory(practitioner=dr, patient=MinorPatientFactory(first_name="Emma"),
                              start=timezone.make_aware(dt.datetime(2026, 12, 9, 14, 30)))
    family = compose_sms(body=FAMILY_SMS, appointment=leo, appointments=[leo, emma])
    assert family.text == ("Cabinet dentaire du Parc, rappel : RDV de Leo à 14h00 et d'Emma à 14h30 le "
                           "09/12/2026 avec le Dr MOLAIRE Marc. Repondez OUI pour confirmer, NON pour annuler.")
    assert (family.segments.encoding, family.segments.parts) == ("GSM-7", 1)
