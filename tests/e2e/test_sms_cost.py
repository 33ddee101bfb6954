"""The send window's live cost estimate, in headless Chromium: it follows the text typed, the
"Remplacer les champs d'intégration" merge (a name's accent and its warning) and the ticked
recipients, computed by the counter's script (no inline script: the page's CSP)."""

import os

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from practice.models import Practice
from tests.factories import GuardianFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

NBSP = "\u00a0"
SHOT = os.environ.get("SMS_COST_SCREENSHOT", "")  # where to keep a screenshot of the window, to look at it
BODY = ("Bonjour @PPREN, le cabinet du Dr Molaire vous rappelle votre rendez-vous de demain. "
        "Appelez-nous en cas d'absence.")


def test_send_window_live_estimate(login, live_server):
    practice = Practice.get()
    practice.sms_prices = {"locmem": "0.08"}
    practice.save()
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    patient = PatientFactory(first_name="Anaïs", last_name="Adam", practitioner=prat, mobile="+33684285560",
                             civil_guardian=GuardianFactory(mobile="+33613682982"))
    page = login(UserFactory(username="julie", first_name="Julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}{reverse('sending:sms', args=[patient.pk])}")
    page.wait_for_load_state()
    live = page.locator("#sms-cost-live")
    ticked = page.locator("input[name=recipients]:checked").count()
    assert ticked == 2  # the patient and her civil guardian (the practice's defaults)
    page.locator("#id_body").fill("Bonjour, à demain.")
    expect(live).to_have_text(f"≈ 0,08{NBSP}€ par destinataire · ≈ 0,16{NBSP}€ pour 2 SMS (2 destinataires)")
    page.locator("input[name=recipients]:checked").nth(1).uncheck()  # the guardian
    expect(live).to_contain_text("pour 1 SMS (1 destinataire)")
    # The name merged: "Anaïs" makes the message UCS-2, 2 parts, and the window says why.
    page.locator("#id_body").fill(BODY)
    page.locator("#merge-button").click()
    expect(page.locator("#id_body")).to_have_value(BODY.replace("@PPREN", "Anaïs"))
    expect(live).to_contain_text("pour 2 SMS (1 destinataire)")
    expect(page.locator("#accent-warning")).to_contain_text("ADAM Anaïs (2 SMS au lieu de 1)")
    if SHOT:
        page.screenshot(path=SHOT, full_page=True)
