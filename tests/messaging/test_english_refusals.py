"""What the services write for staff follows the staff member's language: a refusal raised by a
service and shown on the page as it is, a CSV row's reason on the campaign page, the merge-field
picker and the email providers' explanations. English for a user who chose it, French (the
source text) for the others."""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import socket

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Campaign, EmailAccount, SmtpSecurity
from tests.factories import AppointmentFactory, PatientFactory
from tests.helpers import page_text, sign_in_speaking
from tests.messaging.test_settings_pages import account_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def english(client):
    """A client signed in as an assistant who chose English."""
    sign_in_speaking(client, "en", first_name="Anna")
    return client


def tomorrow_at(hour):
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def start_mailing(client, channel: str, appointment, body="Bonjour @PPREN") -> str:
    key = client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": channel, "ids": [appointment.pk]}
    ).url.split("/")[-3]
    client.post(reverse("mass:message", args=[key]), {"body": body})
    return key


@pytest.mark.parametrize(("who", "expected", "absent"), [
    ("english", "No recipient has a postal address: no letter to print.", "Aucun destinataire n'a d'adresse"),
    ("assistant_client", "Aucun destinataire n'a d'adresse postale : aucun courrier à imprimer.", "No recipient"),
])
def test_a_mass_letter_refusal_is_in_the_staff_members_language(request, who, expected, absent):
    client = request.getfixturevalue(who)
    appointment = AppointmentFactory(start=tomorrow_at(9), patient__address1="", patient__city="")
    key = start_mailing(client, "letter", appointment)
    page = page_text(client.get(reverse("mass:letters", args=[key]), follow=True))
    assert expected in page and absent not in page


def test_a_mass_mailing_left_without_recipient_says_so_in_english(english):
    appointment = AppointmentFactory(start=tomorrow_at(9))
    key = start_mailing(english, "sms", appointment)
    appointment.delete()  # cancelled meanwhile: nobody left to write to
    page = page_text(english.post(reverse("mass:send", args=[key]), follow=True))
    assert "No recipient: add at least one patient." in page


def test_the_unknown_merge_code_of_step_one_is_named_in_english(english):
    appointment = AppointmentFactory(start=tomorrow_at(9))
    key = english.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "ids": [appointment.pk]}
    ).url.split("/")[-3]
    page = page_text(english.post(reverse("mass:message", args=[key]), {"body": "Bonjour @PPRENOM"}))
    assert "The merge field @PPRENOM does not exist. Did you mean @PPREN?" in page


def csv_upload(rows: str):
    upload = io.BytesIO(("Nom;Portable\r\n" + rows).encode("cp1252"))
    upload.name = "liste.csv"
    return upload


@pytest.mark.parametrize(("who", "expected"), [
    ("english", ["CSV file: 1 kept", "semicolon", "Quote opened but never closed: line skipped",
                 "04.72.00.00.00 is not a mobile number.", "Pasted list", "Invalid phone number."]),
    ("assistant_client", ["Fichier CSV : 1 retenu", "point-virgule", "Guillemet ouvert mais jamais refermé",
                          "04.72.00.00.00 n'est pas un numéro de portable.", "Liste collée",
                          "Numéro de téléphone invalide."]),
])
def test_the_campaign_page_gives_the_csv_rows_reasons_in_the_staff_members_language(request, who, expected):
    client = request.getfixturevalue(who)
    rows = 'ADAM;06 12 34 56 78\r\n"BRUN;06 12 34 56 79\r\nCOLIN;04 72 00 00 00\r\n'
    response = client.post(reverse("campaigns:create"), {
        "name": "Vacances", "channel": "sms", "kind": "soins", "body": "Fermé en août.",
        "csv_file": csv_upload(rows), "pasted": "12",
    })
    page = page_text(client.get(response.url))
    for wanted in expected:
        assert wanted in page


def test_the_import_reports_labels_follow_whoever_reads_the_page(client, assistant):
    """The labels of the report (sources, encoding, separator, fields) are stored in French and
    translated when shown: an English colleague reads a French colleague's report in English."""
    client.force_login(assistant)
    response = client.post(reverse("campaigns:create"), {
        "name": "Vacances", "channel": "sms", "kind": "soins", "body": "Fermé.",
        "csv_file": csv_upload("ADAM;06 12 34 56 78\r\n"),
    })
    sign_in_speaking(client, "en")
    page = page_text(client.get(response.url))
    assert "CSV file: 1 kept" in page and "separator semicolon" in page and "mobile ← “Portable”" in page.replace(
        "« Portable »", "“Portable”")


def test_a_past_schedule_date_is_refused_in_english(english):
    response = english.post(reverse("campaigns:create"), {
        "name": "Vacances", "channel": "sms", "kind": "soins", "body": "Fermé.", "pasted": "06 12 34 56 78",
    })
    campaign = Campaign.objects.get()
    past = timezone.localtime() - dt.timedelta(days=1)
    page = page_text(english.post(reverse("campaigns:detail", args=[campaign.pk]),
                             {"action": "schedule", "scheduled_at": past.strftime("%Y-%m-%dT%H:%M")}, follow=True))
    assert "Choose a date and time in the future." in page
    english.post(reverse("campaigns:cancel", args=[campaign.pk]))
    page = page_text(english.post(reverse("campaigns:cancel", args=[campaign.pk]), follow=True))
    assert "A campaign that has been sent can no longer be cancelled." in page
    assert response.status_code == 302


def test_a_patient_service_refusal_is_shown_in_english(english):
    appointment = AppointmentFactory(start=timezone.now() + dt.timedelta(days=30))
    back = f"{reverse('patients:planning')}?jour={timezone.localdate(appointment.start).isoformat()}"
    page = page_text(english.post(reverse("patients:appointment_state", args=[appointment.pk]),
                             {"state": "manque", "next": back}, follow=True))
    assert "This appointment has not taken place yet: it cannot be marked missed." in page


def test_a_mobile_refused_by_the_patient_form_is_explained_in_english(english):
    patient = PatientFactory()
    page = page_text(english.post(reverse("patients:edit", args=[patient.pk]), {"mobile": "04 72 00 00 00"}))
    assert "04.72.00.00.00 is not a mobile number: a French mobile starts with 06 or 07" in page


def test_a_resend_refusal_is_shown_in_english(english, patient_with_pending_sms):
    message = patient_with_pending_sms
    page = page_text(english.post(reverse("sending:resend", args=[message.pk]), follow=True))
    assert "This message has not left yet: it will be sent, no need to resend it." in page


@pytest.fixture
def patient_with_pending_sms(db):
    from messaging.models import Channel, MailingOrigin
    from messaging.outbox import mailing_create
    from messaging.policy import recipient_for

    patient = PatientFactory()
    mailing = mailing_create(
        channel=Channel.SMS, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
        recipients=[recipient_for(patient=patient, channel=Channel.SMS, role="patient")], sms_body="Bonjour",
    )
    return mailing.messages.get()


# ---------------------------------------------------------------------------------------------
# The merge-field picker and the email providers
# ---------------------------------------------------------------------------------------------


def test_the_merge_field_picker_speaks_english_and_finds_by_either_languages_words(english):
    data = english.get(reverse("messaging:merge_fields")).json()["fields"]
    by_code = {f["code"]: f for f in data}
    assert by_code["@PNOM"]["label"] == "Patient's last name"
    assert by_code["@PNOM"]["category_label"] == "Patient"
    assert by_code["@RDV1"]["category_label"] == "Appointments"
    codes = [f["code"] for f in english.get(reverse("messaging:merge_fields"), {"q": "last name"}).json()["fields"]]
    assert "@PNOM" in codes and "@DNOM" in codes
    codes = [f["code"] for f in english.get(reverse("messaging:merge_fields"), {"q": "date de naissance"}).json()["fields"]]
    assert codes == ["@PNAIS"]


def test_the_pickers_categories_are_in_english_in_the_sms_type_form(english_admin):
    page = page_text(english_admin.get(reverse("messaging:sms_create")))
    assert '<option value="libres">Free fields</option>' in page
    assert '<option value="principaux">Main fields</option>' in page


def test_the_merge_field_picker_stays_french_for_a_french_user(admin_client):
    data = admin_client.get(reverse("messaging:merge_fields")).json()["fields"]
    by_code = {f["code"]: f for f in data}
    assert by_code["@PNOM"]["label"] == "Nom du patient" and by_code["@RDV1"]["category_label"] == "Rendez-vous"
    assert "Principaux" in page_text(admin_client.get(reverse("messaging:sms_create")))


@pytest.fixture
def english_admin(client):
    sign_in_speaking(client, "en", username="admin-en", role="Administrateur")
    return client


def test_the_providers_and_their_application_password_note_are_in_english(english_admin):
    page = english_admin.get(reverse("messaging:account_create")).content.decode()
    providers = json.loads(page.split('id="smtp-providers" type="application/json">')[1].split("</script>")[0])
    assert providers["gmail"]["app_password"].startswith("Gmail does not accept the Google account's usual password")
    assert providers["sfr"]["label"] == "SFR (and Neuf, Cegetel, Club Internet)"
    assert "— Other provider / manual settings —" in html.unescape(page)
    response = english_admin.post(reverse("messaging:account_create"), {
        **account_post(name="Gmail", email="cabinet@gmail.com", smtp_host="smtp.gmail.com", smtp_port=465,
                       security="ssl", username="cabinet@gmail.com"),
        "new_password": "MonMotDePasse2024",
    })
    page = page_text(response)
    assert "This is not a Google app password (16 letters" in page
    assert "Gmail does not accept the Google account's usual password" in page


def test_the_account_testers_diagnosis_is_in_english(english_admin):
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = EmailAccount.objects.create(name="Cabinet", email="contact@cabinet.test", smtp_host="127.0.0.1",
                                          smtp_port=port, security=SmtpSecurity.NONE, timeout=5)
    response = english_admin.post(reverse("messaging:account_edit", args=[account.pk]), {
        **account_post(smtp_host="127.0.0.1", smtp_port=port, security="none", username="", timeout=5),
        "test": "1",
    }, follow=True)
    page = page_text(response)
    assert f"Server unreachable: 127.0.0.1:{port} refuses the connection." in page


# ---------------------------------------------------------------------------------------------
# Other staff texts written in Python
# ---------------------------------------------------------------------------------------------


def test_the_journals_date_errors_are_in_english(english):
    page = page_text(english.get(reverse("messaging:index"), {"du": "31/02/2030", "au": "01/01/2020"}))
    assert "Invalid date: use the dd/mm/yyyy format." in page


def test_an_sms_too_long_for_the_gateway_is_refused_in_english(english):
    appointment = AppointmentFactory(start=tomorrow_at(9))
    key = english.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "ids": [appointment.pk]}
    ).url.split("/")[-3]
    page = page_text(english.post(reverse("mass:message", args=[key]), {"body": "a" * 1601}))
    assert "This message is 1601 characters long: an SMS cannot exceed 1 600 characters" in page


def test_a_bad_planning_day_is_explained_in_english(english):
    page = page_text(english.get(reverse("patients:planning"), {"jour": "31/02/2030"}))
    assert "Invalid date: “31/02/2030”. Here are today's appointments" in page

