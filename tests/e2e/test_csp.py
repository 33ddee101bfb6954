"""The Content-Security-Policy in a real browser: the main pages, the Django admin and the rich-text
editor load without any violation (the autouse ``csp_violations`` fixture fails the test on one)
and their scripts still work, served from static files only."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from patients import demo
from patients.models import Patient
from scheduler.models import Treatment
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "/",
    "/patients/",
    "/patients/nouveau/",
    "/patients/rendez-vous/",
    "/recherches/rendez-vous/",
    "/recherches/patients/",
    "/messages/",
    "/messages/parametrage/",
    "/messages/parametrage/sms/",
    "/messages/parametrage/emails/",
    "/messages/parametrage/comptes/nouveau/",
    "/messages/parametrage/signatures/nouvelle/",
    "/messages/parametrage/champs/",
    "/programmeur/",
    "/programmeur/nouveau/?kind=appointments",
    "/publipostage/",
    "/campagnes/",
    "/campagnes/nouvelle/",
    "/mot-de-passe/",
    "/admin/",
    "/admin/messaging/smstemplate/",
    "/admin/django_q/schedule/",
    "/admin/auth/user/add/",
]


@pytest.fixture
def practice(transactional_db):
    demo.seed_demo(patients=12, appointments=40, now=timezone.now())
    return UserFactory(username="root", first_name="Rose", is_staff=True, is_superuser=True)


def test_the_policy_allows_scripts_from_the_site_only(client, practice):
    client.force_login(practice)
    policy = client.get("/").headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy).group(1)
    assert script_src.split() == ["'self'"]
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy


def test_main_pages_and_the_admin_load_without_violation(page, live_server, login, practice, csp_violations):
    patient = Patient.objects.first()
    treatment = Treatment.objects.first()
    login(practice)
    for path in [*PAGES, f"/patients/{patient.pk}/", f"/patients/{patient.pk}/modifier/",
                 f"/envois/patient/{patient.pk}/sms/", f"/envois/patient/{patient.pk}/email/",
                 f"/programmeur/{treatment.pk}/", f"/programmeur/{treatment.pk}/tester/"]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert not csp_violations, path


def test_scripts_still_work_under_the_policy(page, live_server, login, practice):
    login(practice)

    # The live SMS counter (a static script reading its settings from a JSON data block).
    page.goto(f"{live_server.url}/messages/parametrage/sms/nouveau/")
    page.locator("textarea").first.fill("Bonjour, votre rendez-vous est confirmé.")
    expect(page.locator('#sms-counter [data-counter="length"]')).to_have_text("40")
    expect(page.locator('#sms-counter [data-counter="parts"]')).to_have_text("1")

    # The rich-text editor, served from its package, on the project's page and in the admin.
    for path in ("/messages/parametrage/emails/nouveau/", "/admin/messaging/emailtemplate/add/"):
        page.goto(f"{live_server.url}{path}")
        body = page.locator(".prose-editor [contenteditable]").first
        expect(body).to_be_visible()
        body.click()
        page.keyboard.type("Bonjour @PPREN")
        expect(body).to_contain_text("Bonjour @PPREN")

    # The treatment form shows the fields of the chosen periodicity only (scheduler/form.js).
    page.goto(f"{live_server.url}/programmeur/nouveau/?kind=appointments")
    expect(page.locator("#div_id_weekdays")).to_be_hidden()
    page.locator("#id_periodicity").select_option("weekdays")
    expect(page.locator("#div_id_weekdays")).to_be_visible()

    # A switch submits its form when changed (data-autosubmit, static/js/ui.js).
    treatment = Treatment.objects.filter(active=False).first()
    page.goto(f"{live_server.url}/programmeur/")
    page.locator(f"#actif-{treatment.pk}").check()
    expect(page.get_by_text(f"Traitement « {treatment.title} » activé.")).to_be_visible()
    treatment.refresh_from_db()
    assert treatment.active

    # The patient search, its ticked rows and the mass-mailing wizard's first step.
    page.goto(f"{live_server.url}/recherches/patients/")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.locator("#selection-count")).to_contain_text("sélectionné")
    page.get_by_role("link", name="Aucun").click()
    expect(page.locator("#selection-count")).to_contain_text("0 sélectionné")
