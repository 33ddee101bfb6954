"""Message templates in a real browser: an SMS type built with the merge picker, the live counter
and its one-click GSM-7 replacement, then its preview for a real patient; an email type with a
signature and a patient-image attachment."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import (
    AttachmentRule,
    EmailAccount,
    EmailTemplate,
    ImagePick,
    SmsTemplate,
    TemplateCategory,
)
from messaging.sms import segments
from patients.models import ImageStage, PatientImage
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(transactional_db):
    return UserFactory(username="dr.molaire", first_name="Marc", role="Administrateur")


def pick_field(page, target_button, query, code):
    page.get_by_role("button", name=target_button).click()
    search = page.get_by_label("Rechercher un champ")
    expect(search).to_be_focused()
    search.fill(query)
    row = page.locator("#merge-results tr", has=page.locator("code", has_text=code)).first
    row.dblclick()
    expect(page.locator("#merge-picker")).to_be_hidden()


def test_sms_type_with_picker_counter_gsm_replacement_and_preview(page, login, live_server, admin):
    TemplateCategory.objects.create(name="Rendez-vous")
    patient = PatientFactory(last_name="Zimmer", first_name="Alexis", file_number="2228")
    start = timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=2), dt.time(8, 20)))
    AppointmentFactory(patient=patient, start=start,
                       practitioner=PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM"))
    login(admin)

    # The navbar's "Paramétrage" menu lists the settings pages the role can open.
    page.get_by_role("button", name="Paramétrage").click()
    menu = page.locator('[aria-labelledby="settings-menu"]')
    expect(menu.get_by_role("link", name="Comptes email")).to_be_visible()
    menu.get_by_role("link", name="SMS types").click()
    page.get_by_role("link", name="Nouveau SMS type").click()
    page.locator("#id_category").select_option(label="Rendez-vous")
    page.get_by_label("Titre").fill("Confirmation de rendez-vous")
    body = page.get_by_label("Texte du message")
    body.fill("Bonjour ")
    pick_field(page, "Champs d'intégration…", "prénom patient", "@PPREN")
    body.press("End")
    body.type(" ")
    pick_field(page, "Champs d'intégration…", "nom du patient", "@PNOM")
    body.press("End")
    body.type(", RDV le ")
    # Browse by category this time, and insert with the button.
    page.get_by_role("button", name="Champs d'intégration…").click()
    page.get_by_label("Catégorie de champs").select_option(label="Rendez-vous")
    page.get_by_role("button", name="Insérer @RDV1").click()
    expect(page.locator("#merge-picker")).to_be_hidden()
    body.press("End")
    body.type(".")
    expect(body).to_have_value("Bonjour @PPREN @PNOM, RDV le @RDV1.")

    counter = page.locator("#sms-counter")
    expect(counter.locator('[data-counter="encoding"]')).to_have_text("GSM-7")
    expect(counter.locator('[data-counter="length"]')).to_have_text(str(len("Bonjour @PPREN @PNOM, RDV le @RDV1.")))
    body.press("End")
    body.type(" Empêché ? Prévenez-nous.")
    text = "Bonjour @PPREN @PNOM, RDV le @RDV1. Empêché ? Prévenez-nous."
    expect(counter.locator('[data-counter="encoding"]')).to_have_text("UCS-2")
    expect(counter.locator('[data-counter="length"]')).to_have_text(str(segments(text).length))
    expect(counter.locator(".ucs2-char")).to_have_text(["ê"])

    counter.get_by_role("button", name="Remplacer par des équivalents GSM-7").click()
    expect(body).to_have_value("Bonjour @PPREN @PNOM, RDV le @RDV1. Empeché ? Prévenez-nous.")
    expect(counter.locator('[data-counter="encoding"]')).to_have_text("GSM-7")
    expect(counter.locator('[data-counter="ucs2"]')).to_be_hidden()

    page.get_by_role("button", name="Enregistrer et prévisualiser").click()
    expect(page.get_by_role("heading", name="Aperçu : SMS type « Confirmation de rendez-vous »")).to_be_visible()
    page.get_by_label("Patient (nom, prénom, n° de dossier ou téléphone)").fill("zimmer")
    page.get_by_role("button", name="Rechercher").click()
    expected = f"Bonjour Alexis ZIMMER, RDV le {start:%d/%m/%Y} à 08h20. Empeché ? Prévenez-nous."
    expect(page.locator("#preview-text")).to_have_text(expected)
    seg = segments(expected)
    expect(page.locator("#preview-count")).to_contain_text(f"{seg.length} caractère(s) · GSM-7 · 1 SMS")
    assert SmsTemplate.objects.get().body == "Bonjour @PPREN @PNOM, RDV le @RDV1. Empeché ? Prévenez-nous."


@pytest.mark.parametrize("text", [
    "",
    "a" * 160,
    "a" * 161,
    "€" * 80,
    "€" * 81,
    "ê" * 70,
    "ê" * 71,
    "Bonjour 😀",
    "😀" * 35,
    "a" * 152 + "€" + "a" * 10,
    "é è à ù É Ç ^{}\\[~]|\n\r",
    "« Bienvenue » au cabinet\u00a0!",
])
def test_the_live_counter_counts_like_the_server(page, login, live_server, admin, text):
    login(admin)
    page.goto(f"{live_server.url}/messages/parametrage/sms/nouveau/")
    got = page.evaluate("t => window.SmsCounter.segments(t)", text)
    expected = segments(text)
    assert (got["encoding"], got["length"], got["parts"], tuple(got["ucs2_chars"])) == (
        expected.encoding, expected.length, expected.parts, expected.ucs2_chars)


def test_the_counter_warns_by_real_parts_and_refuses_over_1600_characters(page, login, live_server, admin):
    login(admin)
    page.goto(f"{live_server.url}/messages/parametrage/sms/nouveau/")
    counter = page.locator("#sms-counter")
    body = page.get_by_label("Texte du message")
    body.fill("ê" * 71)  # 71 characters, but UCS-2: 2 SMS
    expect(counter.locator('[data-counter="over160"]')).to_have_text("Ce message fera 2 SMS (et sera facturé comme tel).")
    expect(counter.locator('[data-counter="too-long"]')).to_be_hidden()
    body.fill("a" * 1601)
    expect(counter.locator('[data-counter="over160"]')).to_contain_text("Ce message fera 11 SMS")
    expect(counter.locator('[data-counter="too-long"]')).to_be_visible()
    # The limit is the configured gateway's (messaging/gateways/<name>/: max_length).
    expect(counter.locator('[data-counter="too-long"]')).to_contain_text("dépasser 1600 caractères")


def test_email_type_with_signature_and_patient_image(page, login, live_server, admin):
    TemplateCategory.objects.create(name="Confrères")
    EmailAccount.objects.create(name="Mail du Dr Molaire", email="molaire@cabinet.test",
                                smtp_host="smtp.cabinet.test", smtp_port=465, security="ssl")
    patient = PatientFactory(last_name="Kisiel", first_name="Luka", file_number="1029")
    img = PatientImage(patient=patient, image_type="panoramique", stage=ImageStage.FINAL,
                       taken_on=dt.date(2021, 3, 1))
    img.file.save("pano-fin.png", ContentFile(b"\x89PNG fake"), save=False)
    img.save()
    login(admin)

    # The signature, written in the rich-text editor, placed after the message.
    page.goto(f"{live_server.url}/messages/parametrage/signatures/nouvelle/")
    page.get_by_label("Libellé").fill("Dr Molaire")
    page.get_by_label("Après le message : signature en bas de l'email").check()
    editor = page.locator(".prose-editor [contenteditable]")
    editor.click()
    page.keyboard.type("Dr Marc Molaire, chirurgien-dentiste")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Signature « Dr Molaire » enregistrée.")).to_be_visible()

    page.goto(f"{live_server.url}/messages/parametrage/emails/nouveau/")
    page.locator("#id_category").select_option(label="Confrères")
    page.get_by_label("Libellé").fill("Compte rendu panoramique")
    page.get_by_label("Signature").select_option(label="Dr Molaire")
    page.get_by_label("Destinataire").select_option(label="Patient")
    page.get_by_label("Objet").fill("Radio de ")
    pick_field(page, "Champs d'intégration dans l'objet…", "prénom patient", "@PPREN")
    editor = page.locator(".prose-editor [contenteditable]")
    editor.click()
    page.keyboard.type("Bonjour ")
    pick_field(page, "Champs d'intégration…", "prénom patient", "@PPREN")
    expect(editor).to_be_focused()
    page.keyboard.type(", voici votre radio.")
    expect(page.get_by_label("Objet")).to_have_value("Radio de @PPREN")
    page.get_by_role("button", name="Enregistrer et ajouter des pièces jointes").click()
    expect(page.get_by_text("Email type « Compte rendu panoramique » enregistré.")).to_be_visible()

    attachments = page.locator("#pieces-jointes")
    attachments.get_by_label("Quelle image").select_option(label="Fin (dernier stade)")
    attachments.get_by_label("Type d'image").select_option(label="Panoramique")
    attachments.get_by_role("button", name="Ajouter l'image").click()
    expect(page.locator("#attachment-list")).to_contain_text("Panoramique – Fin (dernier stade)")

    template = EmailTemplate.objects.get()
    assert template.signature.label == "Dr Molaire"
    assert "Bonjour @PPREN, voici votre radio." in template.body_text
    rule = AttachmentRule.objects.get()
    assert (rule.image_type, rule.image_pick) == ("panoramique", ImagePick.LAST)

    page.goto(f"{live_server.url}/messages/parametrage/emails/{template.pk}/apercu/?q=1029")
    expect(page.locator("#preview-subject")).to_have_text("Radio de Luka")
    expect(page.locator("#preview-result")).to_contain_text("pano-fin.png")
    frame = page.frame_locator("iframe.email-preview")
    expect(frame.locator("body")).to_contain_text("Bonjour Luka, voici votre radio.")
    expect(frame.locator(".signature")).to_contain_text("Dr Marc Molaire, chirurgien-dentiste")
