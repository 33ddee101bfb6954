"""Two-way SMS in a real browser: a reminder that asks for an answer goes out from the
programmeur, patients answer through the gateways' real webhooks (Twilio's signature, OVH's
token), the planning shows "confirmé" and "annulation demandée", and the next reminder of the
confirmed appointment is not sent, with the reason, in the treatment's Tester."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import expect
from twilio.request_validator import RequestValidator

from messaging.gateways import locmem
from messaging.models import InboundMessage, Purpose, SmsTemplate, TemplateCategory
from patients.models import Appointment
from practice.models import Practice
from scheduler.runner import default_criteria
from scheduler.services import treatment_save
from tests.e2e.conftest import screenshot
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

OVH_TOKEN = "t" * 40
TEXT = "Bonjour @PPREN, RDV le @RDV1. Répondez OUI pour confirmer, NON pour annuler."


def _treatment(title, days, template):
    from scheduler.models import Treatment

    return treatment_save(treatment=Treatment(
        kind="appointments", title=title, hour=dt.time(7, 0), start_date=dt.date(2025, 1, 1),
        offset_from=days, offset_to=days, send_sms=True, sms_template=template, active=True,
    ), criteria=default_criteria("appointments"))


def test_a_patient_confirms_by_sms_and_the_next_reminder_is_not_sent(page, live_server, login, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.OVH_CALLBACK_TOKEN = OVH_TOKEN
    locmem.reset()
    practice = Practice.get()
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)  # the test runs at any hour
    practice.save()
    category = TemplateCategory.objects.create(name="Rendez-vous", purpose=Purpose.REMINDER)
    template = SmsTemplate.objects.create(category=category, title="Rappel avec réponse", body=TEXT, asks_reply=True)
    j2 = _treatment("Rappel RDV J+2 (SMS)", 2, template)
    j1 = _treatment("Rappel RDV J+1 (SMS)", 1, template)
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    day = timezone.localdate() + dt.timedelta(days=2)
    at = timezone.make_aware(dt.datetime.combine(day, dt.time(10, 10)))
    estelle = AppointmentFactory(patient=PatientFactory(first_name="Estelle", last_name="Point",
                                                        mobile="+33684285560"), practitioner=prat, start=at)
    jean = AppointmentFactory(patient=PatientFactory(first_name="Jean", last_name="Bon", mobile="+33684285561"),
                              practitioner=prat, start=at + dt.timedelta(hours=1))
    user = UserFactory(username="sophie", first_name="Sophie", role="Administrateur")

    # The J+2 reminder goes out from the programmeur.
    login(user)
    page.goto(f"{live_server.url}/programmeur/{j2.pk}/tester/")
    page.get_by_role("button", name="Exécuter maintenant").click()
    expect(page.get_by_text("Traitement exécuté")).to_be_visible()
    assert sorted(s.to for s in locmem.outbox) == ["+33684285560", "+33684285561"]

    # Estelle answers through Twilio (signed), Jean through OVH (the callback token).
    url = f"{live_server.url}/webhooks/twilio/inbound/"
    params = {"MessageSid": "SMestelle", "From": "+33684285560", "To": "+33757000000", "Body": "Oui merci 🙂"}
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    assert requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10).status_code == 200
    ovh = requests.get(f"{live_server.url}/webhooks/ovh/inbound/", timeout=10, params={
        "token": OVH_TOKEN, "id": "501", "senderid": "+33684285561", "message": "Je ne pourrai pas venir"})
    assert ovh.status_code == 200 and InboundMessage.objects.count() == 2
    confirmed_at = timezone.localtime(Appointment.objects.get(pk=estelle.pk).confirmed_at)

    # The planning shows both answers.
    page.goto(f"{live_server.url}/patients/rendez-vous/?jour={day.isoformat()}")
    slot = page.locator(f'[data-appointment="{estelle.pk}"]')
    expect(slot.locator('[data-reply="confirmed"]')).to_have_text(
        f"Confirmé par SMS le {confirmed_at:%d/%m} à {confirmed_at:%H}h{confirmed_at:%M}")
    expect(page.locator(f'[data-appointment="{jean.pk}"] [data-reply="cancel-requested"]')).to_have_text(
        "Annulation demandée")
    screenshot(page, "planning-replies")

    # Tomorrow's J+1 reminder: Estelle's is not sent, with the reason (Jean's is the purpose
    # rule's: "Rappel déjà envoyé", within the practice's period).
    page.goto(f"{live_server.url}/programmeur/{j1.pk}/tester/?date={(day - dt.timedelta(days=1)).isoformat()}")
    reason = f"RDV confirmé par SMS le {confirmed_at:%d/%m} à {confirmed_at:%H}h{confirmed_at:%M}."
    expect(page.locator("body")).to_contain_text(reason)
    expect(page.locator("body")).to_contain_text("Rappel déjà envoyé")
    expect(page.locator("#to-send")).not_to_contain_text("POINT Estelle")
    screenshot(page, "tester-confirmed")

    # The patient file keeps the answer in the appointment's history.
    page.goto(f"{live_server.url}/patients/{estelle.patient.pk}/")
    expect(page.locator(".appointment-event").first).to_contain_text("« Oui merci 🙂 »")
