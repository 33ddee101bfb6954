"""The send window's extras as staff use them, in headless Chromium: "Envoyer maintenant" for an SMS
held by the quiet hours."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import Message, MessageStatus, SandboxSms
from tests.e2e.test_sending import demo_practice  # noqa: F401 (fixture)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet_hours_now():
    from practice.models import Practice

    local = timezone.localtime()
    practice = Practice.get()
    practice.quiet_start = (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    practice.quiet_end = (local + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    practice.save()


def test_an_sms_held_by_the_quiet_hours_is_sent_now_after_confirmation(login, live_server, demo_practice):  # noqa: F811
    patient, _ = demo_practice
    _quiet_hours_now()
    page = login(UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{patient.pk}/sms/")
    page.locator("#id_body").fill("Votre prothese est prete.")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("En attente (heures de silence)")
    assert SandboxSms.objects.count() == 0

    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    page.get_by_role("link", name="Envoyer maintenant").click()
    expect(page.get_by_role("heading", name="Envoyer maintenant un SMS retenu par les heures de silence")).to_be_visible()
    expect(page.locator("#send-now-text")).to_have_text("Votre prothese est prete.")
    expect(page.locator("#send-now-warning")).to_contain_text("il part tout de suite")
    page.get_by_role("button", name="Confirmer l'envoi maintenant").click()

    expect(page.locator("#result")).to_contain_text("Envoyé")
    expect(page.locator("#result")).to_contain_text("demandé par Julie Martin")
    assert [s.body for s in SandboxSms.objects.all()] == ["Votre prothese est prete."]
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT and message.send_now_by.username == "julie"

    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    history = page.locator("#communication-history")
    expect(history).to_contain_text("Envoi immédiat pendant les heures de silence demandé par Julie Martin")
    expect(history.get_by_role("link", name="Envoyer maintenant")).to_have_count(0)
