"""The settings pages through the real views: permissions, validation on save, cleaning of HTML,
passwords never shown, category deletion, custom field numbering, attachments, preview."""

from __future__ import annotations

import datetime as dt
import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from messaging.models import (
    AttachmentRule,
    EmailAccount,
    EmailTemplate,
    ExternalFile,
    FreeField,
    ImagePick,
    ParticularField,
    Signature,
    SmsTemplate,
    TemplateCategory,
)
from practice.models import Practice
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory

pytestmark = pytest.mark.django_db

SECRET = "S3cret-du-cabinet!"


@pytest.fixture
def category():
    return TemplateCategory.objects.create(name="Rendez-vous")


@pytest.fixture
def account():
    return EmailAccount.objects.create(
        name="Secrétariat", email="contact@cabinet.test", smtp_host="smtp.cabinet.test", smtp_port=587,
        username="contact@cabinet.test", password=SECRET,
    )


@pytest.fixture
def practicien_client(client, praticien_user):
    client.force_login(praticien_user)
    return client


# ---------------------------------------------------------------------------------------------
# Permissions
# ---------------------------------------------------------------------------------------------


def test_the_navbar_shows_parametrage_and_the_index_lists_sections(admin_client):
    response = admin_client.get("/")
    assert reverse("messaging:settings") in response.content.decode()
    page = admin_client.get(reverse("messaging:settings")).content.decode()
    for label in ("SMS types", "Emails types", "Catégories", "Signatures", "Comptes email", "Paramétrage SMS"):
        assert label in page


def test_an_assistant_reads_and_previews_but_cannot_edit(assistant_client, category):
    sms = SmsTemplate.objects.create(category=category, title="Rappel", body="Bonjour @PPREN")
    assert assistant_client.get(reverse("messaging:sms_list")).status_code == 200
    assert assistant_client.get(reverse("messaging:sms_preview", args=[sms.pk])).status_code == 200
    assert assistant_client.get(reverse("messaging:sms_create")).status_code == 403
    response = assistant_client.post(reverse("messaging:sms_edit", args=[sms.pk]),
                                     {"category": category.pk, "title": "X", "body": "Y"})
    assert response.status_code == 403
    assert "Accès refusé" in response.content.decode()
    sms.refresh_from_db()
    assert sms.title == "Rappel"
    assert assistant_client.post(reverse("messaging:categories"), {"name": "Nouvelle", "position": 0}).status_code == 403
    assert not TemplateCategory.objects.filter(name="Nouvelle").exists()
    list_page = assistant_client.get(reverse("messaging:sms_list")).content.decode()
    assert reverse("messaging:sms_create") not in list_page


def test_accounts_and_sms_settings_are_for_administrators_only(practicien_client, assistant_client, admin_client,
                                                                account):
    for client in (practicien_client, assistant_client):
        assert client.get(reverse("messaging:accounts")).status_code == 403
        assert client.get(reverse("messaging:account_edit", args=[account.pk])).status_code == 403
        assert client.post(reverse("messaging:account_test", args=[account.pk])).status_code == 403
        assert client.get(reverse("messaging:sms_settings")).status_code == 403
    assert admin_client.get(reverse("messaging:accounts")).status_code == 200
    assert admin_client.get(reverse("messaging:sms_settings")).status_code == 200


def test_a_practitioner_edits_templates(practicien_client, category):
    response = practicien_client.post(
        reverse("messaging:sms_create"),
        {"category": category.pk, "title": "Confirmation", "body": "Bonjour @PPREN @PNOM,\r\nà bientôt.",
         "active": "on"},
    )
    assert response.status_code == 302
    sms = SmsTemplate.objects.get(title="Confirmation")
    # CRLF from the browser is stored as the single character the counter counted.
    assert sms.body == "Bonjour @PPREN @PNOM,\nà bientôt."


# ---------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------


def test_create_rename_and_delete_a_category(admin_client):
    admin_client.post(reverse("messaging:categories"), {"name": "Confrères", "position": 2})
    category = TemplateCategory.objects.get(name="Confrères")
    admin_client.post(reverse("messaging:category_edit", args=[category.pk]), {"name": "Correspondants", "position": 2})
    category.refresh_from_db()
    assert category.name == "Correspondants"
    response = admin_client.post(reverse("messaging:category_delete", args=[category.pk]), follow=True)
    assert not TemplateCategory.objects.filter(pk=category.pk).exists()
    assert "supprimé" in response.content.decode()


def test_a_category_in_use_is_not_deleted_and_says_how_many_templates_use_it(admin_client, category, account):
    SmsTemplate.objects.create(category=category, title="A", body="a")
    SmsTemplate.objects.create(category=category, title="B", body="b")
    EmailTemplate.objects.create(category=category, label="C", account=account, subject="s", body_html="<p>c</p>")

    response = admin_client.post(reverse("messaging:category_delete", args=[category.pk]), follow=True)

    assert TemplateCategory.objects.filter(pk=category.pk).exists()
    page = response.content.decode()
    assert "contient encore 2 SMS types et 1 email type" in page
    # ...and the confirmation page says so before the click, with the button disabled.
    confirm = admin_client.get(reverse("messaging:category_delete", args=[category.pk])).content.decode()
    assert "contient encore 2 SMS types et 1 email type" in confirm
    assert 'class="btn btn-danger" disabled' in confirm


def test_categories_are_listed_by_order_then_name(admin_client):
    for name, position in [("Zèbre", 0), ("Alpha", 1), ("Beta", 0)]:
        TemplateCategory.objects.create(name=name, position=position)
    page = admin_client.get(reverse("messaging:categories")).content.decode()
    assert page.index("Beta") < page.index("Zèbre") < page.index("Alpha")


# ---------------------------------------------------------------------------------------------
# SMS types: merge codes
# ---------------------------------------------------------------------------------------------


def test_an_unknown_merge_code_is_refused_on_save_with_the_suggestion(admin_client, category):
    response = admin_client.post(
        reverse("messaging:sms_create"),
        {"category": category.pk, "title": "Rappel", "body": "Bonjour @PPREN, votre portable @PORTABLE."},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "@PORTABLE n&#x27;existe pas" in page
    assert "Vouliez-vous dire @PORT_PAT" in page
    assert not SmsTemplate.objects.exists()


def test_the_sms_form_carries_the_counter_tables_from_messaging_sms(admin_client):
    page = admin_client.get(reverse("messaging:sms_create")).content.decode()
    assert 'id="sms-gsm-tables"' in page
    assert 'id="merge-picker"' in page
    assert "messaging/sms_counter.js" in page
    config = json.loads(page.split('id="sms-counter-config" type="application/json">')[1].split("</script>")[0])
    assert config["warn_over_160"] is True
    Practice.objects.update_or_create(pk=1, defaults={"sms_warn_over_160": False})
    from django.core.cache import cache

    cache.clear()
    page = admin_client.get(reverse("messaging:sms_create")).content.decode()
    config = json.loads(page.split('id="sms-counter-config" type="application/json">')[1].split("</script>")[0])
    assert config["warn_over_160"] is False


def test_merge_field_search_answers_json(assistant_client):
    ParticularField.objects.create(number=1, label="Accord de né", girl="née", boy="né", woman="née", man="né")
    data = assistant_client.get(reverse("messaging:merge_fields"), {"q": "portable"}).json()
    codes = [f["code"] for f in data["fields"]]
    assert "@PORT_PAT" in codes
    data = assistant_client.get(reverse("messaging:merge_fields"), {"category": "particuliers"}).json()
    assert [f["code"] for f in data["fields"]] == ["@PART_01"]


def test_to_gsm_replaces_the_characters_that_force_ucs2(admin_client):
    response = admin_client.post(reverse("messaging:sms_to_gsm"),
                                 data=json.dumps({"text": "Empêché ? L’équipe vous répond"}),
                                 content_type="application/json")
    data = response.json()
    assert data["text"] == "Empeché ? L'équipe vous répond"
    assert data["encoding"] == "GSM-7"
    assert data["ucs2_chars"] == []


# ---------------------------------------------------------------------------------------------
# SMS settings
# ---------------------------------------------------------------------------------------------


def test_sms_settings_refuse_a_bad_sender_name_and_save_a_good_one(admin_client):
    url = reverse("messaging:sms_settings")
    response = admin_client.post(url, {"sms_sender_name": "Été Dental"})
    assert "doit commencer par une lettre (sans accent)" in response.content.decode()
    assert not Practice.objects.filter(sms_sender_name="Été Dental").exists()
    response = admin_client.post(url, {"sms_sender_name": "Dr Molaire", "sms_default_patient": "on",
                                       "sms_default_financial_guardian": "on",
                                       "quiet_start": "20:00", "quiet_end": "08:00"})
    assert response.status_code == 302
    practice = Practice.objects.get(pk=1)
    assert practice.sms_sender_name == "Dr Molaire"
    assert practice.sms_warn_over_160 is False
    assert practice.sms_default_patient and practice.sms_default_financial_guardian
    assert not practice.sms_default_civil_guardian


# ---------------------------------------------------------------------------------------------
# Email accounts: the password is never shown back
# ---------------------------------------------------------------------------------------------


def account_post(**overrides):
    data = {
        "name": "Secrétariat", "email": "contact@cabinet.test", "display_name": "Cabinet",
        "smtp_host": "smtp.cabinet.test", "smtp_port": 587, "security": "starttls", "timeout": 30,
        "username": "contact@cabinet.test", "new_password": "", "active": "on",
    }
    data.update(overrides)
    return data


def test_the_password_is_never_in_the_page(admin_client, account):
    page = admin_client.get(reverse("messaging:account_edit", args=[account.pk])).content.decode()
    assert SECRET not in page
    assert "Un mot de passe est enregistré" in page
    assert SECRET not in admin_client.get(reverse("messaging:accounts")).content.decode()
    admin_page = admin_client.get(reverse("admin:messaging_emailaccount_change", args=[account.pk])).content.decode()
    assert SECRET not in admin_page
    # Nor in the database in clear.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM messaging_emailaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert SECRET not in stored


def test_a_blank_password_keeps_the_stored_one_and_clear_removes_it(admin_client, account):
    url = reverse("messaging:account_edit", args=[account.pk])
    assert admin_client.post(url, account_post(smtp_port=465, security="ssl")).status_code == 302
    account.refresh_from_db()
    assert account.password == SECRET and account.smtp_port == 465
    admin_client.post(url, account_post(new_password="nouveau-secret"))
    account.refresh_from_db()
    assert account.password == "nouveau-secret"
    admin_client.post(url, account_post(clear_password="on"))
    account.refresh_from_db()
    assert account.password == ""


def test_the_admin_keeps_the_password_when_left_blank(admin_client, account):
    url = reverse("admin:messaging_emailaccount_change", args=[account.pk])
    data = account_post(smtp_host="smtp2.cabinet.test")
    data.pop("active")
    data["active"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.smtp_host == "smtp2.cabinet.test" and account.password == SECRET


def test_the_account_page_offers_the_providers(admin_client):
    page = admin_client.get(reverse("messaging:account_create")).content.decode()
    assert 'id="smtp-providers"' in page
    providers = json.loads(page.split('id="smtp-providers" type="application/json">')[1].split("</script>")[0])
    assert providers["orange"]["host"] == "smtp.orange.fr" and providers["orange"]["port"] == 465
    assert providers["orange"]["security"] == "ssl"
    assert {"orange", "sfr", "free", "ovh", "laposte", "gmail", "yahoo", "outlook", "aol", "bouygues",
            "ionos"} <= set(providers)


def test_gmail_and_outlook_accounts_say_they_need_an_application_password(admin_client):
    url = reverse("messaging:account_create")
    assert 'role="note" hidden></div>' in admin_client.get(url).content.decode()  # no provider chosen yet
    gmail = account_post(name="Gmail", email="cabinet.molaire@gmail.com", smtp_host="smtp.gmail.com",
                         smtp_port=465, security="ssl", username="cabinet.molaire@gmail.com")
    # The account's usual password cannot be a Google application password: refused, with where to make one.
    response = admin_client.post(url, {**gmail, "new_password": "MonMotDePasse2024"})
    assert response.status_code == 200 and not EmailAccount.objects.exists()
    page = html.unescape(response.content.decode())
    assert "Ce n'est pas un mot de passe d'application Google (16 lettres" in page
    assert "myaccount.google.com/apppasswords" in page
    assert 'id="app-password-note"' in page and "Gmail n'accepte pas le mot de passe habituel" in page
    # Pasted as Google shows it, in groups of four: stored without the spaces.
    response = admin_client.post(url, {**gmail, "new_password": "abcd efgh ijkl mnop"})
    assert response.status_code == 302
    account = EmailAccount.objects.get(name="Gmail")
    assert account.password == "abcdefghijklmnop"
    page = html.unescape(admin_client.get(reverse("messaging:account_edit", args=[account.pk])).content.decode())
    assert "Gmail n'accepte pas le mot de passe habituel du compte Google" in page
    # Outlook: explained, not checked (Microsoft's format is not published).
    outlook = account_post(name="Outlook", email="cabinet@outlook.fr", smtp_host="smtp-mail.outlook.com",
                           new_password="secret-outlook")
    response = admin_client.post(url, outlook)
    assert response.status_code == 302
    edit = reverse("messaging:account_edit", args=[EmailAccount.objects.get(name="Outlook").pk])
    page = html.unescape(admin_client.get(edit).content.decode())
    assert "Outlook / Hotmail n'accepte pas le mot de passe habituel" in page
    assert "account.microsoft.com › Sécurité › Options de sécurité avancées" in page


def test_the_test_button_reports_failure_in_french(admin_client):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account = EmailAccount.objects.create(name="Test", email="a@cabinet.test", smtp_host="127.0.0.1",
                                          smtp_port=port, security="none")
    response = admin_client.post(reverse("messaging:account_test", args=[account.pk]), follow=True)
    assert "Serveur injoignable" in response.content.decode()
    account.refresh_from_db()
    assert account.last_test_ok is False


# ---------------------------------------------------------------------------------------------
# Signatures and email types: HTML cleaned on save
# ---------------------------------------------------------------------------------------------

DIRTY = (
    '<p>Bonjour @PPREN,</p><script>alert("x")</script>'
    '<p><img src="https://cabinet.test/logo.png" onerror="steal()">'
    '<a href="javascript:alert(1)">clic</a> <a href="https://cabinet.test">site</a></p>'
    '<p style="color: #ff0000">rouge</p>'
)


def assert_clean(html: str):
    for forbidden in ("<script", "onerror", "javascript:", "steal()"):
        assert forbidden not in html
    assert 'href="https://cabinet.test"' in html
    assert "color: #ff0000" in html


def test_signature_html_is_cleaned_on_save(admin_client):
    response = admin_client.post(reverse("messaging:signature_create"),
                                 {"label": "Dr Molaire", "placement": "header", "body_html": DIRTY})
    assert response.status_code == 302
    signature = Signature.objects.get(label="Dr Molaire")
    assert_clean(signature.body_html)
    assert signature.placement == "header"


def email_post(category, account, **overrides):
    data = {
        "category": category.pk, "label": "Rappel", "account": account.pk, "signature": "",
        "recipient_role": "patient", "subject": "Votre rendez-vous du @RDV1", "body_html": DIRTY,
        "save_sent": "on", "active": "on",
    }
    data.update(overrides)
    return data


def test_email_body_is_cleaned_on_save_and_gets_its_text_version(admin_client, category, account):
    response = admin_client.post(reverse("messaging:email_create"), email_post(category, account))
    assert response.status_code == 302
    template = EmailTemplate.objects.get(label="Rappel")
    assert_clean(template.body_html)
    assert "Bonjour @PPREN," in template.body_text
    assert "<" not in template.body_text
    assert response["Location"].endswith(reverse("messaging:email_edit", args=[template.pk]) + "#pieces-jointes")


def test_email_subject_with_an_unknown_code_is_refused(admin_client, category, account):
    response = admin_client.post(reverse("messaging:email_create"),
                                 email_post(category, account, subject="Rendez-vous de @PNON"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "@PNON" in page and "Vouliez-vous dire @PNOM" in page
    assert not EmailTemplate.objects.exists()


def test_admin_email_template_is_cleaned_too(admin_client, category, account):
    data = email_post(category, account, label="Admin")
    data.update({"attachments-TOTAL_FORMS": 0, "attachments-INITIAL_FORMS": 0})
    response = admin_client.post(reverse("admin:messaging_emailtemplate_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_clean(EmailTemplate.objects.get(label="Admin").body_html)


# ---------------------------------------------------------------------------------------------
# Attachments through the pages
# ---------------------------------------------------------------------------------------------


def test_add_and_remove_attachments(admin_client, category, account):
    template = EmailTemplate.objects.create(category=category, label="CR", account=account, subject="CR",
                                            body_html="<p>x</p>")
    admin_client.post(reverse("messaging:attachment_add_image", args=[template.pk]),
                      {"img-image_pick": "last", "img-image_type": "panoramique", "img-image_subtype": ""})
    upload = SimpleUploadedFile("plan.pdf", b"%PDF-1.4 plan", content_type="application/pdf")
    admin_client.post(reverse("messaging:attachment_add_file", args=[template.pk]),
                      {"file-label": "Plan d'accès", "file-file": upload})
    rules = list(template.attachments.order_by("id"))
    assert [(r.image_type, r.image_pick) for r in rules[:1]] == [("panoramique", ImagePick.LAST)]
    assert rules[1].external_file.label == "Plan d'accès"
    # The uploaded file is reused by another type without a second upload.
    other = EmailTemplate.objects.create(category=category, label="Bienvenue", account=account, subject="B",
                                         body_html="<p>b</p>")
    admin_client.post(reverse("messaging:attachment_add_file", args=[other.pk]),
                      {"file-existing": rules[1].external_file_id})
    assert ExternalFile.objects.count() == 1
    assert other.attachments.get().external_file_id == rules[1].external_file_id
    page = admin_client.get(reverse("messaging:email_edit", args=[template.pk])).content.decode()
    assert "Panoramique – Fin (dernier stade)" in page and "Plan d&#x27;accès" in page
    admin_client.post(reverse("messaging:attachment_delete", args=[template.pk, rules[0].pk]))
    assert list(template.attachments.values_list("pk", flat=True)) == [rules[1].pk]


def test_an_assistant_cannot_add_attachments(assistant_client, category, account):
    template = EmailTemplate.objects.create(category=category, label="CR", account=account, subject="CR",
                                            body_html="<p>x</p>")
    response = assistant_client.post(reverse("messaging:attachment_add_image", args=[template.pk]),
                                     {"img-image_pick": "last", "img-image_type": "panoramique"})
    assert response.status_code == 403
    assert not AttachmentRule.objects.exists()


# ---------------------------------------------------------------------------------------------
# Custom fields
# ---------------------------------------------------------------------------------------------


def test_custom_fields_get_the_next_free_number(admin_client):
    ParticularField.objects.create(number=1, label="Un")
    ParticularField.objects.create(number=3, label="Trois")
    admin_client.post(reverse("messaging:custom_field_create", args=["particulier"]),
                      {"label": "Accord de né", "girl": "née", "boy": "né", "woman": "née", "man": "né"})
    assert ParticularField.objects.get(label="Accord de né").number == 2
    admin_client.post(reverse("messaging:custom_field_create", args=["libre"]),
                      {"label": "Formule", "ami": "Amicalement", "amie": "Amicalement",
                       "confrere": "Confraternellement", "consoeur": "Confraternellement"})
    free = FreeField.objects.get()
    assert free.code == "@LIBRE_01"
    page = admin_client.get(reverse("messaging:custom_fields")).content.decode()
    assert "@PART_02" in page and "@LIBRE_01" in page and "Confraternellement" in page
    assert admin_client.get(reverse("messaging:custom_field_create", args=["autre"])).status_code == 404


# ---------------------------------------------------------------------------------------------
# Preview
# ---------------------------------------------------------------------------------------------


def test_preview_shows_the_exact_sms_for_a_patient_picked_by_name(assistant_client, category):
    sms = SmsTemplate.objects.create(
        category=category, title="Rappel",
        body="Bonjour @PPREN @PNOM, RDV le @RDV1 avec le @PRAT.",
    )
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228")
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=3), dt.time(11, 0)))
    AppointmentFactory(patient=patient, start=start,
                       practitioner=PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM"))
    url = reverse("messaging:sms_preview", args=[sms.pk])

    search = assistant_client.get(url, {"q": "zimm"}).content.decode()
    # A single match is chosen at once; the appointment defaults to the next one.
    expected = f"Bonjour Alexis ZIMMER, RDV le {start:%d/%m/%Y} à 11h00 avec le Dr MOLAIRE Marc."
    assert expected in search
    from messaging.sms import segments

    seg = segments(expected)
    assert f"{seg.length} caractère(s) · {seg.encoding} · {seg.parts} SMS" in search

    without = assistant_client.get(url, {"patient": patient.pk, "appointment": "aucun"}).content.decode()
    assert "Bonjour Alexis ZIMMER, RDV le  avec le" in without
    assert "@RDV1" in without and "aucun rendez-vous choisi" in without


def test_preview_of_an_email_with_signature_and_missing_attachment(assistant_client, category, account):
    signature = Signature.objects.create(label="Dr", body_html="<p>Dr Molaire</p>", placement="footer")
    template = EmailTemplate.objects.create(
        category=category, label="CR", account=account, signature=signature,
        subject="Compte rendu de @PPREN @PNOM", body_html="<p>Bonjour @PPREN,</p>",
    )
    AttachmentRule.objects.create(template=template, image_type="panoramique", image_pick=ImagePick.MOST_RECENT)
    patient = PatientFactory(last_name="Kisiel", first_name="Luka")
    page = assistant_client.get(reverse("messaging:email_preview", args=[template.pk]),
                                {"patient": patient.pk}).content.decode()
    assert "Compte rendu de Luka KISIEL" in page
    assert "Bonjour Luka," in page and "Dr Molaire" in page
    assert "Aucune image « Panoramique » pour ce patient" in page
    assert "sandbox" in page  # the formatted body is shown in a sandboxed frame


def test_sms_settings_edit_the_quiet_hours(admin_client):
    url = reverse("messaging:sms_settings")
    page = admin_client.get(url).content.decode()
    assert 'name="quiet_start"' in page and 'value="20:00"' in page
    assert escape("Aucun SMS ne part entre 20h00 et 08h00 (heure du cabinet) ; les messages attendent l'ouverture.") in page

    response = admin_client.post(url, {"sms_sender_name": "Dr Molaire", "quiet_start": "21:30", "quiet_end": "07:45"})
    assert response.status_code == 302
    practice = Practice.get()
    assert (practice.quiet_start, practice.quiet_end) == (dt.time(21, 30), dt.time(7, 45))
    page = admin_client.get(url).content.decode()
    assert escape("Aucun SMS ne part entre 21h30 et 07h45 (heure du cabinet)") in page

    response = admin_client.post(url, {"sms_sender_name": "Dr Molaire", "quiet_start": "", "quiet_end": "25:00"})
    page = response.content.decode()
    assert "Indiquez l&#x27;heure de début des heures de silence." in page and "Heure invalide" in page
    assert Practice.get().quiet_start == dt.time(21, 30)


def test_sms_type_longer_than_1600_characters_is_refused(practicien_client, category):
    response = practicien_client.post(
        reverse("messaging:sms_create"),
        {"category": category.pk, "title": "Roman", "body": "a" * 1601, "active": "on"},
    )
    assert response.status_code == 200
    assert escape("Ce message fait 1601 caractères : un SMS ne peut pas dépasser 1 600 caractères "
                  "avec la passerelle du cabinet. Raccourcissez-le.") in response.content.decode()
    assert not SmsTemplate.objects.filter(title="Roman").exists()
    ok = practicien_client.post(
        reverse("messaging:sms_create"),
        {"category": category.pk, "title": "Long", "body": "a" * 1600, "active": "on"},
    )
    assert ok.status_code == 302


def test_a_signature_written_around_the_form_is_still_cleaned_when_shown(admin_client):
    from messaging.models import Signature

    # Written directly (an import, a script): the page must not run it.
    Signature.objects.create(label="Brute", body_html='<p>Dr <b>X</b></p><script>alert(1)</script><img src=x onerror="y()">')
    page = admin_client.get(reverse("messaging:signatures")).content.decode()
    assert "<b>X</b>" in page
    assert "alert(1)" not in page and "onerror" not in page
