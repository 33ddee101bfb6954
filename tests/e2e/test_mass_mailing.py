"""In a real browser: search tomorrow's appointments of one practitioner, untick one row, send an
SMS mass mailing, watch the progress and read the report."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.backends import SendError
from messaging.gateways import locmem
from messaging.models import Mailing
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory
from tests.messaging import sending_helpers

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox


def tomorrow_at(hour, minute=0):
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


@pytest.mark.django_db(transaction=True)
def test_search_untick_send_sms_and_read_the_report(page, live_server, login, assistant, sms_outbox, no_quiet_hours):
    molaire = PractitionerFactory(initials="MM", last_name="Molaire", first_name="Marc")
    other = PractitionerFactory(initials="CC", last_name="Canine", first_name="Claire")
    zimmer = AppointmentFactory(start=tomorrow_at(8, 20), practitioner=molaire,
                                patient=PatientFactory(last_name="Zimmer", first_name="Alexis", mobile="+33684285560"))
    AppointmentFactory(start=tomorrow_at(9, 40), practitioner=molaire,
                                 patient=PatientFactory(last_name="Ghienne", first_name="Eireen", mobile="+33613682982"))
    AppointmentFactory(start=tomorrow_at(10, 40), practitioner=molaire,
                       patient=PatientFactory(last_name="Kisiel", first_name="Luka", mobile="+33699887766"))
    AppointmentFactory(start=tomorrow_at(11), practitioner=other, patient=PatientFactory(last_name="Autre"))
    # The gateway refuses Kisiel's number: the report must say so.
    locmem.fail_for["+33699887766"] = SendError("Numéro non attribué.", permanent=True, code="21211")

    login(assistant)
    page.goto(f"{live_server.url}/recherches/rendez-vous/")
    page.get_by_label("Praticien").select_option(label=str(molaire))
    page.get_by_role("button", name="Rechercher").click()
    counter = page.locator("#selection-count")
    expect(counter).to_have_text("3 rendez-vous, 3 sélectionnés")
    expect(page.locator("#results tbody tr")).to_have_count(3)

    page.get_by_label("Sélectionner GHIENNE Eireen").uncheck()
    expect(counter).to_have_text("3 rendez-vous, 2 sélectionnés")
    page.get_by_role("link", name="Aucun").click()
    expect(counter).to_have_text("3 rendez-vous, 0 sélectionné")
    expect(page.get_by_role("button", name="SMS", exact=True)).to_be_disabled()
    page.get_by_role("link", name="Tous").click()
    page.get_by_label("Sélectionner GHIENNE Eireen").uncheck()
    expect(counter).to_have_text("3 rendez-vous, 2 sélectionnés")

    page.get_by_role("button", name="SMS", exact=True).click()
    page.get_by_label("Message").fill("Rappel : RDV de @PPREN @PNOM le @RDV1 avec @RDVPRAT.")
    page.get_by_role("button", name="Suivant").click()

    summary = page.locator("#summary")
    expect(summary).to_contain_text("2 messages seront envoyés pour 2 patients")
    expect(summary).to_contain_text("2 SMS")
    expect(page.locator("#recipients")).to_contain_text(
        f"Rappel : RDV de Alexis ZIMMER le {timezone.localtime(zimmer.start):%d/%m/%Y} à 08h20 avec Dr MOLAIRE Marc."
    )
    expect(page.locator("#recipients")).not_to_contain_text("GHIENNE")
    page.get_by_role("button", name="Envoyer").dblclick()

    expect(page).to_have_url(re.compile(r"/publipostage/envoi/\d+/$"))
    expect(page.locator("#progress-bar")).to_have_text("100 %")
    expect(page.locator("#succeeded")).to_contain_text("ZIMMER Alexis")
    expect(page.locator("#failed")).to_contain_text("KISIEL Luka – Numéro non attribué.")
    expect(page.locator("#failure-warning")).to_be_visible()
    assert Mailing.objects.count() == 1  # the double click made one mailing
    assert [m.to for m in sms_outbox] == ["+33684285560"]

    # The failure links to the patient file; the retry sends to Kisiel only.
    locmem.reset()
    page.get_by_role("button", name="Renvoyer les échecs").click()
    expect(page.locator("#succeeded")).to_contain_text("KISIEL Luka")
    assert [m.to for m in sms_outbox] == ["+33699887766"]
    page.goto(f"{live_server.url}/publipostage/")
    expect(page.locator("#mailings tbody tr")).to_have_count(2)


@pytest.mark.django_db(transaction=True)
def test_select_all_rows_of_every_page_untick_a_few_and_start_the_mailing(page, live_server, login, assistant):
    """More rows than a page shows: "Tous" selects the whole search, a row unticked on each page
    stays unticked when coming back, and the mass mailing covers exactly the selection."""
    from patients.views_search import PAGE_SIZE
    from tests.factories import appointments_in_bulk

    count = PAGE_SIZE + 50
    rows = appointments_in_bulk(count, day=timezone.localdate() + dt.timedelta(days=1))
    login(assistant)
    page.goto(f"{live_server.url}/recherches/rendez-vous/")
    page.get_by_role("button", name="Rechercher").click()
    counter = page.locator("#selection-count")
    expect(counter).to_have_text(f"{count} rendez-vous, {count} sélectionnés")
    expect(page.locator("#results tbody tr")).to_have_count(PAGE_SIZE)

    page.get_by_role("link", name="Aucun").click()
    expect(counter).to_have_text(f"{count} rendez-vous, 0 sélectionné")
    expect(page.get_by_role("button", name="SMS", exact=True)).to_be_disabled()
    page.get_by_role("link", name="Tous").click()
    expect(counter).to_have_text(f"{count} rendez-vous, {count} sélectionnés")
    first = page.get_by_label(f"Sélectionner {rows[0].patient.display_name}", exact=True)
    first.uncheck()
    expect(counter).to_have_text(f"{count} rendez-vous, {count - 1} sélectionnés")

    page.get_by_role("link", name="Suivant").click()
    expect(page.locator("#page-number")).to_contain_text("Page 2 / 2")
    expect(counter).to_have_text(f"{count} rendez-vous, {count - 1} sélectionnés")
    # The header box: this page's rows only.
    page_box = page.get_by_label("Cocher ou décocher les lignes de cette page")
    page_box.uncheck()
    expect(counter).to_have_text(f"{count} rendez-vous, {count - 1 - 50} sélectionnés")
    page_box.check()
    expect(counter).to_have_text(f"{count} rendez-vous, {count - 1} sélectionnés")
    page.get_by_label(f"Sélectionner {rows[-1].patient.display_name}", exact=True).uncheck()
    expect(page_box).not_to_be_checked()
    expect(counter).to_have_text(f"{count} rendez-vous, {count - 2} sélectionnés")
    page.get_by_role("link", name="Précédent").click()
    expect(first).not_to_be_checked()
    expect(page.get_by_label(f"Sélectionner {rows[1].patient.display_name}", exact=True)).to_be_checked()

    page.get_by_role("button", name="SMS", exact=True).click()
    page.get_by_label("Message").fill("Rappel : RDV de @PPREN le @RDV1.")
    page.get_by_role("button", name="Suivant").click()
    summary = page.locator("#summary")
    expect(summary).to_contain_text(f"{count - 2} messages seront envoyés pour {count - 2} patients")
    # "Emma4" but not "Emma40": the name as a whole word.
    expect(page.locator("#recipients")).not_to_contain_text(re.compile(rf"{rows[0].patient.display_name}\b"))


@pytest.mark.django_db(transaction=True)
def test_the_wizard_page_reopened_after_logging_in_again(page, live_server, login, assistant):
    """The draft is kept on the server for its user: after "Déconnexion", logging in again and
    opening the wizard's address shows the recipients and the message as they were."""
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis", mobile="+33684285560")
    AppointmentFactory(start=tomorrow_at(9), patient=patient)
    login(assistant)
    page.goto(f"{live_server.url}/recherches/rendez-vous/")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("button", name="SMS", exact=True).click()
    page.get_by_label("Message").fill("Gardé pour @PPREN.")
    page.get_by_role("button", name="Suivant").click()
    expect(page.locator("#recipients")).to_contain_text("Gardé pour Alexis.")
    wizard = page.url

    page.get_by_role("button", name="Déconnexion").click()
    page.goto(wizard)
    expect(page).to_have_url(re.compile(r"/connexion/"))
    login(assistant)
    page.goto(wizard)
    expect(page.locator("#summary")).to_contain_text("1 message sera envoyé pour 1 patient")
    expect(page.locator("#recipients")).to_contain_text("Gardé pour Alexis.")
    page.get_by_role("link", name="Précédent").click()
    expect(page.get_by_label("Message")).to_have_value("Gardé pour @PPREN.")
