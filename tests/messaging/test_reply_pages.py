"""The pages of two-way SMS: the reply option of an SMS type, the reply number per gateway on
the SMS settings page, and the answer shown on the planning, the day's search and the file."""

import datetime as dt
import html

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import SmsTemplate, TemplateCategory
from patients.models import Appointment, AppointmentEvent, AppointmentEventKind
from practice.models import Practice
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return " ".join(html.unescape(response.content.decode()).split())


def test_the_settings_page_says_a_name_cannot_receive_answers_and_keeps_a_number_per_gateway(admin_client, settings):
    settings.SMS_BACKEND = "twilio"
    url = reverse("messaging:sms_settings")
    page = text(admin_client.get(url))
    assert "ne peut pas recevoir de SMS : personne ne peut y répondre" in page
    assert "Numéro de réponse Twilio (passerelle actuelle)" in page and "Numéro de réponse OVH" in page
    assert "Aucun numéro de réponse pour la passerelle actuelle (twilio)" in page
    base = {"sms_sender_name": "CABINET", "quiet_start": "20:00", "quiet_end": "08:00"}
    refused = text(admin_client.post(url, {**base, "reply_twilio": "CABINET", "reply_ovh": "senderForResponse"}))
    assert "« CABINET » n'est pas un numéro de téléphone." in refused
    assert Practice.get().sms_reply_senders == {}
    response = admin_client.post(url, {**base, "reply_twilio": "07 57 00 00 00", "reply_ovh": "senderforresponse",
                                       "sms_reply_ack": "on"})
    assert response.status_code == 302
    practice = Practice.objects.get(pk=1)
    assert practice.sms_reply_senders == {"twilio": "+33757000000", "ovh": "senderForResponse"}
    assert practice.sms_reply_ack
    page = text(admin_client.get(url))
    assert "Aucun numéro de réponse pour la passerelle actuelle" not in page and 'value="+33757000000"' in page
    # Emptied: forgotten for that gateway only.
    admin_client.post(url, {**base, "reply_twilio": "", "reply_ovh": "senderForResponse"})
    assert Practice.objects.get(pk=1).sms_reply_senders == {"ovh": "senderForResponse"}


def test_the_demo_needs_no_reply_number(admin_client, settings):
    settings.SMS_BACKEND = "sandbox"
    page = text(admin_client.get(reverse("messaging:sms_settings")))
    assert "les réponses se font depuis la boîte de démonstration" in page
    assert "Aucun numéro de réponse pour la passerelle actuelle" not in page


def test_an_sms_type_asks_for_an_answer_and_warns_without_a_reply_number(admin_client, settings):
    settings.SMS_BACKEND = "ovh"
    category = TemplateCategory.objects.create(name="Rendez-vous")
    url = reverse("messaging:sms_create")
    page = text(admin_client.get(url))
    assert "Demander une réponse (OUI pour confirmer, NON pour annuler)" in page
    response = admin_client.post(url, {"category": category.pk, "title": "Rappel J-1", "asks_reply": "on",
                                       "body": "RDV demain. Répondez OUI pour confirmer, NON pour annuler.",
                                       "active": "on"})
    assert response.status_code == 302
    template = SmsTemplate.objects.get(title="Rappel J-1")
    assert template.asks_reply
    edit = text(admin_client.get(reverse("messaging:sms_edit", args=[template.pk])))
    assert "le patient ne pourra pas répondre" in edit
    practice = Practice.get()
    practice.sms_reply_senders = {"ovh": "senderForResponse"}
    practice.save()
    assert "le patient ne pourra pas répondre" not in text(admin_client.get(reverse("messaging:sms_edit",
                                                                                      args=[template.pk])))


def test_the_answer_is_shown_on_the_planning_the_days_search_and_the_file(assistant_client):
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time(10, 10)))
    confirmed = AppointmentFactory(start=start)
    cancelling = AppointmentFactory(start=start + dt.timedelta(hours=1))
    answered = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(9, 14)))
    Appointment.objects.filter(pk=confirmed.pk).update(confirmed_at=answered)
    Appointment.objects.filter(pk=cancelling.pk).update(cancel_requested_at=answered)
    AppointmentEvent.objects.create(appointment=confirmed, kind=AppointmentEventKind.CONFIRMED, at=answered,
                                    text="Oui merci")
    mark = f"Confirmé par SMS le {answered:%d/%m} à 09h14"
    day = start.date().isoformat()
    planning = text(assistant_client.get(reverse("patients:planning"), {"jour": day}))
    assert mark in planning and "Annulation demandée" in planning
    search = text(assistant_client.get(reverse("search:appointments"), {
        "date_from": start.strftime("%d/%m/%Y"), "date_to": start.strftime("%d/%m/%Y"), "time_from": "07:00",
        "time_to": "21:00", "states": "futur"}))
    assert mark in search and "Annulation demandée" in search
    file = text(assistant_client.get(reverse("patients:detail", args=[confirmed.patient.pk])))
    assert mark in file and f"Confirmé par SMS le {answered:%d/%m/%Y} à 09h14 : « Oui merci »" in file
