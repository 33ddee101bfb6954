"""The search pages and the mass-mailing wizard through HTTP: permissions, grid, the wizard's
steps, the double click on "Envoyer", progress JSON, retry, campaigns pages."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from messaging.models import Campaign, Mailing, Message, SavedMessage
from tests.factories import AppointmentFactory, PatientWithoutPhoneFactory, PractitionerFactory, UserFactory
from tests.messaging import sending_helpers

no_quiet_hours = sending_helpers.no_quiet_hours
sms_outbox = sending_helpers.sms_outbox

pytestmark = pytest.mark.django_db


def tomorrow_at(hour):
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def search_url(**params):
    day = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    query = {"date_from": day, "date_to": day, "time_from": "07:00", "time_to": "21:00", "states": "futur", **params}
    return reverse("search:appointments") + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_search_pages_need_their_permissions(client):
    client.force_login(UserFactory(username="sans-role"))
    assert client.get(reverse("search:appointments")).status_code == 403
    assert client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "ids": [1]}).status_code == 403


def test_appointment_grid_marks_missing_contacts_and_links_to_files(assistant_client, django_assert_max_num_queries):
    dr = PractitionerFactory(initials="MM")
    a = AppointmentFactory(start=tomorrow_at(9), practitioner=dr)
    b = AppointmentFactory(start=tomorrow_at(10), practitioner=dr, patient=PatientWithoutPhoneFactory(email=""))
    AppointmentFactory(start=tomorrow_at(11))  # another practitioner
    response = assistant_client.get(search_url(practitioners=dr.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="form-check-input row-check"') == 2
    assert f'data-href="{reverse("patients:detail", args=[a.patient.pk])}"' in html
    assert "06.84.28.55.60" in html and "⚠ sans portable" in html and "⚠ sans email" in html
    assert str(b.patient.file_number) in html
    printed = assistant_client.get(search_url(practitioners=dr.pk, impression="liste"))
    assert printed.status_code == 200 and "Liste des rendez-vous" in printed.content.decode()


def test_patient_search_page(assistant_client):
    AppointmentFactory(patient__first_name="Rappel", start=tomorrow_at(9))
    html = assistant_client.get(reverse("search:patients") + "?rechercher=1&has_mobile=1").content.decode()
    assert "ABLIRANT Rappel" in html


def test_wizard_end_to_end_and_double_click_creates_one_mailing(
    assistant_client, sms_outbox, no_quiet_hours, django_capture_on_commit_callbacks
):
    appts = [AppointmentFactory(start=tomorrow_at(h)) for h in (9, 10)]
    response = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "ids": [a.pk for a in appts]}
    )
    assert response.status_code == 302
    key = response.url.split("/")[-3]
    response = assistant_client.post(reverse("mass:message", args=[key]), {"body": "RDV le @RDV1, @PPREN."})
    assert response.url == reverse("mass:recipients", args=[key])
    page = assistant_client.get(response.url).content.decode()
    assert "2</strong> messages seront envoyés pour" in page and "RDV le " in page
    with django_capture_on_commit_callbacks(execute=True):
        first = assistant_client.post(reverse("mass:send", args=[key]))
        second = assistant_client.post(reverse("mass:send", args=[key]))  # the double click
    assert first.url == second.url
    assert Mailing.objects.count() == 1 and Message.objects.count() == 2
    mailing = Mailing.objects.get()
    status = assistant_client.get(reverse("mass:status", args=[mailing.pk])).json()
    assert status["done"] and status["succeeded"] == 2 and status["percent"] == 100
    detail = assistant_client.get(first.url).content.decode()
    assert "Envoi réussi (2)" in detail
    assert "Renvoyer les échecs" not in detail
    assert mailing.label in assistant_client.get(reverse("mass:list")).content.decode()


def test_unknown_merge_code_is_refused_in_step_one(assistant_client):
    a = AppointmentFactory(start=tomorrow_at(9))
    key = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "ids": [a.pk]}
    ).url.split("/")[-3]
    response = assistant_client.post(reverse("mass:message", args=[key]), {"body": "Bonjour @ZORGL"})
    assert response.status_code == 200
    assert escape("Le champ d'intégration @ZORGL n'existe pas.") in response.content.decode()


def test_sms_longer_than_1600_characters_is_refused_in_step_one(assistant_client):
    a = AppointmentFactory(start=tomorrow_at(9))
    key = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "sms", "ids": [a.pk]}
    ).url.split("/")[-3]
    response = assistant_client.post(reverse("mass:message", args=[key]), {"body": "a" * 1601})
    assert response.status_code == 200
    assert escape("Ce message fait 1601 caractères : un SMS ne peut pas dépasser 1 600 caractères") in (
        response.content.decode()
    )
    ok = assistant_client.post(reverse("mass:message", args=[key]), {"body": "a" * 1600})
    assert ok.status_code == 302


def test_letters_pdf_view(assistant_client):
    a = AppointmentFactory(start=tomorrow_at(9), patient__address1="1 rue Haute", patient__city="Lyon")
    key = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "letter", "ids": [a.pk]}
    ).url.split("/")[-3]
    assistant_client.post(reverse("mass:message", args=[key]), {"body": "Bonjour @PPREN"})
    response = assistant_client.get(reverse("mass:letters", args=[key]))
    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")


def test_campaign_page_lists_a_malformed_csv_row_and_keeps_the_others(assistant_client):
    rows = "".join(f"NOM{n};06 12 34 56 {n:02d}\r\n" for n in range(20))
    data = "Nom;Portable\r\n" + rows.replace("NOM10;", '"NOM10;', 1)
    csv_file = io.BytesIO(data.encode("cp1252"))
    csv_file.name = "liste.csv"
    response = assistant_client.post(
        reverse("campaigns:create"),
        {"name": "Vacances", "channel": "sms", "kind": "soins", "body": "Fermé en août.", "csv_file": csv_file},
    )
    campaign = Campaign.objects.get()
    assert campaign.recipients.count() == 19
    detail = assistant_client.get(response.url).content.decode()
    assert "Fichier CSV : 19 retenus, <span class=\"text-danger\">1 invalide</span>" in detail
    assert "<td>12</td>" in detail and "Guillemet ouvert mais jamais refermé" in detail


def test_campaign_page_says_fichier_vide(assistant_client):
    csv_file = io.BytesIO(b"Nom;Portable\r\n")
    csv_file.name = "liste.csv"
    response = assistant_client.post(
        reverse("campaigns:create"),
        {"name": "Vacances", "channel": "sms", "kind": "soins", "body": "Fermé.", "csv_file": csv_file,
         "pasted": "0612345678"},
    )
    detail = assistant_client.get(response.url).content.decode()
    assert "Fichier CSV refusé : Fichier vide : il ne contient que la ligne d&#x27;en-tête" in detail


def test_campaign_pages_paste_import_check_then_send(
    assistant_client, sms_outbox, no_quiet_hours, django_capture_on_commit_callbacks
):
    csv_file = io.BytesIO(b"Nom;Portable\nDUPONT;0612345678\nBAD;123\n")
    csv_file.name = "liste.csv"
    response = assistant_client.post(
        reverse("campaigns:create"),
        {"name": "Vacances", "channel": "sms", "kind": "soins", "body": "Fermé en août.",
         "pasted": "0687654321;0687654321", "csv_file": csv_file, "save_as": "Vacances"},
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    detail = assistant_client.get(response.url).content.decode()
    assert "123" in detail and "Numéro de téléphone invalide." in detail and "<td>3</td>" in detail
    assert "1 doublon retiré" in detail
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(response.url, {"action": "send"})
    assert sorted(m.to for m in sms_outbox) == ["+33612345678", "+33687654321"]
    listing = assistant_client.get(reverse("campaigns:list")).content.decode()
    assert "Vacances" in listing and campaign.name in listing
    saved = SavedMessage.objects.get(name="Vacances")
    reused = assistant_client.get(reverse("campaigns:create") + f"?message={saved.pk}").content.decode()
    assert "Fermé en août." in reused


def test_campaign_to_overseas_mobiles_pasted_and_imported_is_sent_by_sms(
    assistant_client, sms_outbox, no_quiet_hours, django_capture_on_commit_callbacks
):
    # Guadeloupe, Guyane and Martinique pasted; La Réunion and Mayotte in the file.
    csv_file = io.BytesIO(b"Nom;Portable\nHOARAU;0692 12 34 56\nMADI;+262 639 20 12 34\n")
    csv_file.name = "outre-mer.csv"
    response = assistant_client.post(
        reverse("campaigns:create"),
        {"name": "Outre-mer", "channel": "sms", "kind": "soins", "body": "Fermé en août.",
         "pasted": "06.90.12.34.56; 00594694201234\n+596 696 12 34 56", "csv_file": csv_file},
    )
    assert response.status_code == 302
    detail = assistant_client.get(response.url).content.decode()
    assert "invalide" not in detail and "pas un numéro de portable" not in detail
    with django_capture_on_commit_callbacks(execute=True):
        assistant_client.post(response.url, {"action": "send"})
    assert sorted(m.to for m in sms_outbox) == [
        "+262639201234", "+262692123456", "+590690123456", "+594694201234", "+596696123456",
    ]


def test_email_wizard_steps(assistant_client):
    account = sending_helpers.make_account()
    a = AppointmentFactory(start=tomorrow_at(9))
    key = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "email", "ids": [a.pk]}
    ).url.split("/")[-3]
    assert assistant_client.get(reverse("mass:message", args=[key])).status_code == 200
    response = assistant_client.post(
        reverse("mass:message", args=[key]),
        {"subject": "Votre RDV du @RDVDATE", "body": "<p>Bonjour @PPREN</p><script>x()</script>", "account": account.pk},
    )
    assert response.url == reverse("mass:recipients", args=[key])
    page = assistant_client.get(response.url).content.decode()
    assert f"Votre RDV du {timezone.localtime(a.start):%d/%m/%Y}" in page and f"Bonjour {a.patient.first_name}" in page
    page = assistant_client.get(reverse("mass:message", args=[key])).content.decode()
    # The body goes back into the same rich-text editor as the email types, sanitised.
    import html

    editor = html.unescape(page.split('id="id_body"')[1].split(">", 1)[1].split("</textarea>")[0])
    assert "<p>Bonjour @PPREN</p>" in editor and "x()" not in editor
    # The editor's toolbar opens the merge-field picker of the page.
    assert "data-rich-editor" in page and "messaging/rich_editor.js" in page and 'id="merge-picker"' in page


def test_the_email_step_starts_from_an_active_account_not_a_blank(assistant_client):
    account = sending_helpers.make_account()
    a = AppointmentFactory(start=tomorrow_at(9))
    key = assistant_client.post(
        reverse("mass:start"), {"search": "rendez-vous", "channel": "email", "ids": [a.pk]}
    ).url.split("/")[-3]
    page = assistant_client.get(reverse("mass:message", args=[key])).content.decode()
    assert f'<option value="{account.pk}" selected>' in page


def test_a_campaign_without_any_valid_recipient_cannot_be_sent(assistant_client):
    response = assistant_client.post(
        reverse("campaigns:create"),
        {"name": "Vide", "channel": "sms", "kind": "soins", "body": "Bonjour.", "pasted": "123;abc"},
    )
    detail = assistant_client.get(response.url).content.decode()
    assert "Liste : 0 numéro" in detail
    assert "Aucun destinataire valide" in detail
    assert 'id="send-now" disabled' in detail


@pytest.mark.parametrize("bad", ["²", "99999999999999999999"])
def test_ids_posted_in_the_wizard_that_no_row_can_have_are_ignored(assistant_client, bad):
    """"²" is a digit to str.isdigit but not to int(), and 20 digits are past a bigint: the
    wizard's steps ignore such ids instead of answering 500."""
    appointment = AppointmentFactory()
    started = assistant_client.post(reverse("mass:start"), {"search": "rendez-vous", "channel": "email",
                                                            "ids": [str(appointment.pk)]})
    key = started.url.rstrip("/").split("/")[-2]
    message = assistant_client.post(reverse("mass:message", args=[key]), {
        "subject": "Rappel", "body": "<p>Bonjour</p>", "account": bad, "signature": bad,
    })
    assert message.status_code == 200 and "Choisissez le compte d&#x27;envoi." in message.content.decode()
    for field in ("remove_appointment", "remove_patient", "add_patient"):
        response = assistant_client.post(reverse("mass:recipients", args=[key]), {field: bad})
        assert response.status_code == 302, field
