"""The seed's flow in a real browser: create the J+1 SMS reminder, press "Tester", read who would
receive what, activate it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import SmsTemplate, TemplateCategory
from scheduler.models import Treatment
from tests.e2e.conftest import screenshot
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PatientWithoutPhoneFactory,
    PractitionerFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_the_j_plus_1_sms_reminder_test_it_and_activate_it(page, live_server, login):
    # Configuring treatments is the administrators' (assistants run and test them).
    user = UserFactory(username="sophie", first_name="Sophie", last_name="Admin", role="Administrateur")
    category = TemplateCategory.objects.create(name="Rendez-vous")
    SmsTemplate.objects.create(
        category=category, title="Confirmation de rendez-vous",
        body="Bonjour @PPREN, RDV le @RDV1 avec le @PRAT.",
    )
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    at_ten = timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(10, 0)))
    AppointmentFactory(patient=PatientFactory(first_name="Estelle", last_name="Point"), practitioner=prat, start=at_ten)
    AppointmentFactory(patient=PatientWithoutPhoneFactory(first_name="Jean", last_name="Sansfil"), practitioner=prat,
                       start=at_ten + dt.timedelta(hours=2))

    login(user)
    page.get_by_role("link", name="Programmeur").click()
    expect(page.get_by_role("heading", name="Programmeur")).to_be_visible()
    page.get_by_role("link", name="Créer").click()
    page.get_by_label("Recherche sur les rendez-vous").check()
    page.get_by_role("button", name="Continuer").click()

    page.get_by_label("Intitulé*").fill("Rappel RDV J+1 (SMS)")
    page.get_by_label("Heure*").fill("01:00")
    page.get_by_label("À partir du*").fill(timezone.localdate().isoformat())
    page.get_by_label("Périodicité*").select_option(label="Tous les jours")
    page.get_by_label("Période*").select_option(label="Selon un calcul de dates")
    # Typed the wrong way round: refused with the reason, not read as J+1..J+3.
    page.get_by_label("De J*").fill("3")
    page.get_by_label("À J*").fill("1")
    page.get_by_label("SMS", exact=True).check()
    page.get_by_label("SMS type").select_option(label="Rendez-vous – Confirmation de rendez-vous")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("La période « de J+3 à J+1 » finit avant de commencer : indiquez de J+1 à J+3.")
           ).to_be_visible()
    assert not Treatment.objects.exists()
    page.get_by_label("De J*").fill("1")
    page.get_by_label("À J*").fill("1")
    page.get_by_role("button", name="Enregistrer").click()

    # Saved, then straight to "Tester" for today: tomorrow's appointments.
    expect(page.get_by_role("heading", name="Tester « Rappel RDV J+1 (SMS) »")).to_be_visible()
    page.get_by_role("button", name="Tester").click()
    to_send = page.locator("#to-send")
    expect(to_send).to_contain_text("POINT Estelle")
    expect(to_send).to_contain_text(f"Bonjour Estelle, RDV le {tomorrow:%d/%m/%Y} à 10h00 avec le Dr MOLAIRE Marc.")
    expect(to_send).to_contain_text("06.84.28.55.60")
    expect(page.locator("#left-out")).to_contain_text("Aucun numéro de portable.")
    expect(page.locator("#test-summary")).to_contain_text("2 patients concernés")
    expect(page.locator("#test-summary")).to_contain_text("1 message serait envoyé, 1 ne serait pas envoyé")

    page.get_by_role("link", name="Programmeur").click()
    row = page.locator("#treatments tr", has_text="Rappel RDV J+1 (SMS)")
    switch = row.get_by_role("switch")
    expect(switch).not_to_be_checked()
    switch.check()
    # The switch posts its form: until the next page is there, the first alert is this page's
    # "Le programmeur ne fonctionne pas" (no cluster in browser tests). Wait for the answer's own
    # alert, with room for a loaded machine.
    expect(page.get_by_role("alert").filter(has_text="activé")).to_be_visible(timeout=20_000)
    row = page.locator("#treatments tr", has_text="Rappel RDV J+1 (SMS)")
    expect(row.get_by_role("switch")).to_be_checked()
    expect(row).to_contain_text(re.compile(r"\d\d/\d\d/\d{4} à 01h00"))
    treatment = Treatment.objects.get()
    assert treatment.active and treatment.schedule_id and treatment.criteria["states"] == ["futur"]


def test_home_flags_a_missed_run_and_the_stopped_scheduler_and_runs_it(page, live_server, login):
    from scheduler.models import Heartbeat, TreatmentRun
    from scheduler.runner import default_criteria
    from scheduler.services import treatment_save

    user = UserFactory(username="julie", first_name="Julie", role="Assistant(e)")
    category = TemplateCategory.objects.create(name="Rendez-vous")
    template = SmsTemplate.objects.create(category=category, title="Rappel", body="Bonjour @PPREN, RDV le @RDV1.")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    # Runs on yesterday's weekday only: exactly one missed run, whatever the time of the test.
    treatment = treatment_save(treatment=Treatment(
        kind="appointments", title="Rappel RDV J+1 (SMS)", hour=dt.time(7, 0), start_date=dt.date(2025, 1, 1),
        periodicity="weekdays", weekdays=[yesterday.weekday()],
        offset_from=1, offset_to=1, send_sms=True, sms_template=template, active=True,
    ), criteria=default_criteria("appointments"))
    Treatment.objects.filter(pk=treatment.pk).update(active_since=timezone.now() - dt.timedelta(days=2))
    Heartbeat.objects.create(pk=1, beat_at=timezone.now() - dt.timedelta(hours=2), host="serveur", pid=1)

    login(user)
    expect(page.get_by_text("Le programmeur ne fonctionne pas.")).to_be_visible()
    missed = page.locator("#missed-runs")
    expect(missed).to_contain_text(f"Rappel RDV J+1 (SMS) : exécution manquée le {yesterday:%d/%m} à 07h00")
    screenshot(page, "home-missed")
    missed.get_by_role("button", name="Exécuter maintenant").click()
    expect(page.get_by_text("Traitement exécuté")).to_be_visible()
    assert TreatmentRun.objects.get().run_date == yesterday
    page.get_by_role("link", name="Programmeur").click()
    expect(page.locator("#scheduler-health")).to_contain_text("Le programmeur ne fonctionne pas.")
    expect(page.locator("#missed-runs")).to_have_count(0)
    screenshot(page, "programmeur-after-run")
    page.goto(live_server.url + "/")
    expect(page.locator("#missed-runs")).to_have_count(0)


def test_one_sms_per_family_is_chosen_on_the_treatment_and_shown_by_tester(page, live_server, login):
    """The option refuses an SMS type without @RDVLISTE, then Tester shows the family's one SMS."""
    from scheduler.runner import default_criteria
    from scheduler.services import treatment_save
    from tests.factories import GuardianFactory, MinorPatientFactory

    user = UserFactory(username="sophie", first_name="Sophie", last_name="Admin", role="Administrateur")
    category = TemplateCategory.objects.create(name="Rendez-vous")
    single = SmsTemplate.objects.create(category=category, title="Rappel simple", body="RDV le @RDV1 avec le @PRAT.")
    SmsTemplate.objects.create(category=category, title="Rappel famille",
                               body="Rappel : @RDVLISTE le @RDVDATE avec le @PRAT.")
    treatment = treatment_save(treatment=Treatment(
        kind="appointments", title="Rappel RDV J+1 (SMS)", hour=dt.time(18, 0), start_date=dt.date(2025, 1, 1),
        offset_from=1, offset_to=1, send_sms=True, sms_template=single,
    ), criteria=default_criteria("appointments"))
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    mum = GuardianFactory(first_name="Stéphanie", mobile="+33613682982")
    for name, hour, minute in (("Léo", 14, 0), ("Emma", 14, 30)):
        child = MinorPatientFactory(first_name=name, last_name="Ablirant", civil_guardian=mum)
        AppointmentFactory(patient=child, practitioner=prat,
                           start=timezone.make_aware(dt.datetime.combine(tomorrow, dt.time(hour, minute))))

    login(user)
    page.goto(live_server.url + reverse("scheduler:edit", args=[treatment.pk]))
    page.get_by_label("Un seul SMS par famille et par jour").check()
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("ne contient pas @RDVLISTE")).to_be_visible()
    page.get_by_label("SMS type").select_option(label="Rendez-vous – Rappel famille")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Traitement « Rappel RDV J+1 (SMS) » enregistré.")).to_be_visible()
    page.goto(live_server.url + reverse("scheduler:test", args=[treatment.pk]))
    to_send = page.locator("#to-send")
    expect(to_send).to_contain_text("1 SMS pour 2 rendez-vous (même numéro, même jour)")
    expect(to_send).to_contain_text(f"Rappel : RDV de Léo à 14h00 et d'Emma à 14h30 le {tomorrow:%d/%m/%Y} "
                                    "avec le Dr MOLAIRE Marc.")
    expect(page.locator("#test-summary")).to_contain_text("1 message serait envoyé")
    screenshot(page, "tester-family-sms")
    assert Treatment.objects.get().group_family


def test_an_appointment_booked_after_the_run_is_reminded_and_shown_by_tester(page, live_server, login):
    """Today's J+1 run is done; staff then book an appointment for tomorrow on the planning: its
    reminder is written at once, as a catch-up of that run, and Tester at today's date lists it
    with why it was written late."""
    from scheduler.runner import default_criteria, treatment_run
    from scheduler.services import treatment_save

    user = UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)")
    category = TemplateCategory.objects.create(name="Rendez-vous")
    template = SmsTemplate.objects.create(category=category, title="Rappel", body="RDV le @RDV1 avec le @PRAT.")
    treatment = treatment_save(treatment=Treatment(
        kind="appointments", title="Rappel RDV J+1 (SMS)", hour=dt.time(0, 5), start_date=dt.date(2025, 1, 1),
        offset_from=1, offset_to=1, send_sms=True, sms_template=template, active=True,
    ), criteria=default_criteria("appointments"))
    treatment_run(treatment=treatment, run_date=timezone.localdate())
    PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    PatientFactory(first_name="Alexis", last_name="Zimmer", mobile="+33684285560")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)

    login(user)
    page.goto(live_server.url + reverse("patients:appointment_create") + f"?jour={tomorrow:%Y-%m-%d}")
    page.get_by_role("combobox", name="Patient").fill("zimm")
    page.get_by_role("option", name="ZIMMER Alexis").click()
    page.get_by_label("Heure").fill("10:00")
    page.get_by_role("button", name="Prendre le rendez-vous").click()
    expect(page.get_by_role("link", name="ZIMMER Alexis")).to_be_visible()

    page.goto(live_server.url + reverse("scheduler:test", args=[treatment.pk]) + f"?date={timezone.localdate():%Y-%m-%d}")
    catch_ups = page.locator("#catch-ups")
    expect(catch_ups).to_contain_text(f"ZIMMER Alexis – {tomorrow:%d/%m/%Y} à 10h00")
    expect(catch_ups).to_contain_text("RDV le")
    expect(catch_ups).to_contain_text("Rendez-vous pris le")
    screenshot(page, "tester-catch-up")
