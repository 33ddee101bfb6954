"""In the browser: the send window blocks a reminder without its appointment (and sends it once
staff keep it explicitly), shows an email type's "Confirmation avant envoi" before it leaves, and
a campaign shows its reach (who receives what, who receives nothing and why) before sending."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.demo import ensure_demo_messaging
from messaging.models import Campaign, EmailTemplate, Message, MessageStatus
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def practice(settings):
    from practice.models import Practice

    settings.SMS_BACKEND = "locmem"
    practice = Practice.get()
    practice.quiet_start = practice.quiet_end = dt.time(0, 0)  # the test may run at night
    practice.save()
    ensure_demo_messaging()
    prat = PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM")
    return PatientFactory(last_name="Adam", first_name="Anaïs", practitioner=prat, mobile="+33684285560",
                          email="anais@patients.test")


def test_a_reminder_without_its_appointment_is_blocked_then_kept_explicitly(login, live_server, practice):
    page = login(UserFactory(username="julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{practice.pk}/sms/")
    page.wait_for_load_state()
    page.get_by_label("Catégorie").select_option(label="Rendez-vous")
    page.get_by_label("Texte type").select_option(label="Confirmation de rendez-vous")
    expect(page.locator("#id_body")).to_have_value(
        "Bonjour,\nLe Dr MOLAIRE Marc a le plaisir de vous rappeler le RDV de Anaïs ADAM le .\n"
        "Nous vous souhaitons une agréable journée.")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#missing-data")).to_contain_text("aucun rendez-vous choisi")
    expect(page.locator(".alert-danger").first).to_contain_text("Message non envoyé : données manquantes pour ADAM Anaïs")
    assert not Message.objects.exists()
    page.get_by_label("Envoyer malgré les données manquantes").check()
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_role("heading", name="Résultat de l'envoi")).to_be_visible()
    message = Message.objects.get()
    assert message.status != MessageStatus.SKIPPED and "Envoyé malgré des données manquantes" in message.note


def test_confirmation_before_send_shows_the_final_email(login, live_server, practice):
    template = EmailTemplate.objects.get(label="Confirmation de rendez-vous")
    template.confirm_before_send = True
    template.save()
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=2), dt.time(11, 0)))
    AppointmentFactory(patient=practice, practitioner=practice.practitioner, start=start)
    when = timezone.localtime(start).strftime("%d/%m/%Y à %Hh%M")
    page = login(UserFactory(username="julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{practice.pk}/email/")
    page.wait_for_load_state()
    page.get_by_label("Email type").select_option(label="Confirmation de rendez-vous")
    expect(page.get_by_label("Objet")).to_have_value(f"Confirmation de votre rendez-vous du {when}")
    page.get_by_role("button", name="Envoyer").click()
    confirmation = page.locator("#confirmation")
    expect(confirmation).to_contain_text("Confirmation avant envoi")
    expect(confirmation).to_contain_text(f"Objet : Confirmation de votre rendez-vous du {when}")
    expect(confirmation).to_contain_text("Anaïs ADAM")
    assert not Message.objects.exists()
    page.get_by_role("button", name="Confirmer l'envoi").click()
    expect(page.get_by_role("heading", name="Résultat de l'envoi")).to_be_visible()
    assert Message.objects.get().subject == f"Confirmation de votre rendez-vous du {when}"


def test_a_campaign_shows_its_reach_before_sending(login, live_server, practice):
    PatientFactory(last_name="Martin", first_name="Alexis", mobile="+33611223344", news_consent=False)
    page = login(UserFactory(username="julie", role="Assistant(e)"))
    page.goto(f"{live_server.url}/campagnes/nouvelle/")
    page.get_by_label("Numéros ou adresses").fill("06 84 28 55 60\n06 12 34 56 78")
    page.get_by_label("Message", exact=True).fill("Bonjour @DPREN, le cabinet sera fermé du 1er au 15 août.")
    page.get_by_role("button", name="Vérifier la liste").click()
    reach = page.locator("#reach")
    expect(reach).to_contain_text("1 destinataire sur 2 recevra le message.")
    expect(page.locator("#missing-data")).to_contain_text("@DPREN (Prénom du destinataire) : donnée manquante.")
    expect(page.locator("#messages-preview")).to_contain_text("Bonjour Anaïs, le cabinet sera fermé du 1er au 15 août.")
    page.get_by_label("Envoyer malgré les données manquantes (les champs concernés resteront vides)").check()
    page.get_by_role("button", name="Envoyer maintenant").click()
    expect(page.locator("#campaign-progress")).to_be_visible()
    assert Message.objects.filter(status=MessageStatus.SKIPPED).count() == 0

    # A news campaign nobody accepted: said before, refused when scheduled.
    page.goto(f"{live_server.url}/campagnes/nouvelle/")
    page.get_by_label("Actualités").check()
    page.get_by_label("Message", exact=True).fill("Nouveau : le cabinet ouvre le samedi.")
    page.get_by_label("Ajouter tous les patients").check()
    page.get_by_role("button", name="Vérifier la liste").click()
    expect(page.locator("#reaches-nobody")).to_contain_text("Cette campagne n'atteint personne (0 sur 2)")
    later = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page.locator("#scheduled_at").fill(later)
    page.get_by_role("button", name="Enregistrer la campagne").click()
    expect(page.locator(".alert-danger").first).to_contain_text("Cette campagne n'atteint personne")
    assert Campaign.objects.order_by("-pk").first().status == "draft"
