"""The rich-text editor (django-prose-editor, messaging/rich_editor.js) in a real browser, under the
Content-Security-Policy (the autouse ``csp_violations`` fixture fails a test on any violation):
formatting typed in an email type reaches the database cleaned and the patient's preview merged;
the merge-field picker is in the editor's toolbar; the admin has the same editor; and every demo
email type and signature opened, edited back to its text and saved reaches patients unchanged."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.compose import compose_email
from messaging.demo import ensure_demo_messaging
from messaging.models import EmailAccount, EmailTemplate, Signature, TemplateCategory
from tests.e2e.conftest import screenshot
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EDITOR = ".prose-editor [contenteditable]"  # the toolbar's dropdowns have a .ProseMirror class too


@pytest.fixture
def admin(transactional_db):
    return UserFactory(username="dr.molaire", first_name="Marc", role="Administrateur", is_staff=True,
                       is_superuser=True)


def menu_button(page, name):
    return page.locator(f'.prose-menubar__button[data-name="{name}"]').first


def choose_in_dropdown(page, option_name):
    """Open the toolbar dropdown holding ``option_name`` (a colour) and click that option."""
    dropdown = page.locator(".prose-menubar__dropdown", has=page.locator(f'[data-name="{option_name}"]'))
    dropdown.locator(".prose-menubar__selected").click()
    dropdown.locator(f'.prose-menubar__option[data-name="{option_name}"]').click()


def test_formatting_and_merge_field_reach_the_database_and_the_preview(page, login, live_server, admin):
    TemplateCategory.objects.create(name="Informations")
    EmailAccount.objects.create(name="Secrétariat", email="secretariat@cabinet.test",
                                smtp_host="smtp.cabinet.test", smtp_port=465, security="ssl")
    PatientFactory(last_name="Kisiel", first_name="Luka", file_number="1029")
    login(admin)

    page.goto(f"{live_server.url}/messages/parametrage/emails/nouveau/")
    page.locator("#id_category").select_option(label="Informations")
    page.get_by_label("Libellé").fill("Informations pratiques")
    page.get_by_label("Destinataire").select_option(label="Patient")
    page.get_by_label("Objet").fill("Informations pratiques")
    editor = page.locator(EDITOR)
    expect(editor).to_have_attribute("aria-label", "Message")
    editor.click()
    page.keyboard.type("Bonjour ")

    # The merge-field picker, opened from the editor's toolbar, inserts at the editor's cursor.
    page.get_by_role("button", name="Champs d'intégration…").click()
    search = page.get_by_label("Rechercher un champ")
    expect(search).to_be_focused()
    search.fill("prénom patient")
    page.locator("#merge-results tr", has=page.locator("code", has_text="@PPREN")).first.dblclick()
    expect(page.locator("#merge-picker")).to_be_hidden()
    expect(editor).to_have_text("Bonjour @PPREN")
    expect(editor).to_be_focused()
    page.keyboard.type(", ")

    menu_button(page, "bold").click()
    page.keyboard.type("important")
    menu_button(page, "bold").click()
    page.keyboard.type(" ")
    choose_in_dropdown(page, "color:#c0392b")
    page.keyboard.type("rouge")
    choose_in_dropdown(page, "color:none")
    page.keyboard.press("Enter")

    menu_button(page, "bulletList").click()
    page.keyboard.type("un")
    page.keyboard.press("Enter")
    page.keyboard.type("deux")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # an empty item ends the list

    page.keyboard.type("Voir notre site")
    for _ in "notre site":
        page.keyboard.press("Shift+ArrowLeft")
    menu_button(page, "link").click()
    page.get_by_label("Adresse (URL)").fill("https://cabinet.example/acces")
    page.get_by_role("button", name="Valider").click()
    expect(editor.locator("a")).to_have_text("notre site")
    expect(editor.locator("strong")).to_have_text("important")
    screenshot(page, "rich-editor-email-type")

    page.get_by_role("button", name="Enregistrer et ajouter des pièces jointes").click()
    expect(page.get_by_text("Email type « Informations pratiques » enregistré.")).to_be_visible()

    template = EmailTemplate.objects.get()
    assert template.body_html == (
        '<p>Bonjour @PPREN, <strong>important</strong> <span style="color: #c0392b">rouge</span></p>'
        "<ul><li>un</li><li>deux</li></ul>"  # (list items as TinyMCE wrote them: messaging.html.clean_editor_html)
        '<p>Voir <a href="https://cabinet.example/acces" rel="noopener noreferrer">notre site</a></p>'
    )
    assert template.body_text == (
        "Bonjour @PPREN, important rouge\n\n- un\n- deux\n\nVoir notre site (https://cabinet.example/acces)"
    )

    # What the patient would receive: merged, with its formatting.
    page.goto(f"{live_server.url}/messages/parametrage/emails/{template.pk}/apercu/?q=1029")
    frame = page.frame_locator("iframe.email-preview")
    expect(frame.locator("p").first).to_have_text("Bonjour Luka, important rouge")
    expect(frame.locator("strong")).to_have_text("important")
    expect(frame.locator("span", has_text="rouge")).to_have_css("color", "rgb(192, 57, 43)")
    expect(frame.locator("li")).to_have_count(2)
    expect(frame.locator("a")).to_have_attribute("href", "https://cabinet.example/acces")

    # Reopened, the editor shows the stored body as formatted text.
    page.goto(f"{live_server.url}/messages/parametrage/emails/{template.pk}/")
    expect(page.locator(EDITOR).locator("strong")).to_have_text("important")
    expect(page.locator(EDITOR).locator("li")).to_have_count(2)


def test_the_admin_edits_an_email_type_in_the_same_editor(page, login, live_server, admin):
    account = EmailAccount.objects.create(name="Secrétariat", email="secretariat@cabinet.test",
                                          smtp_host="smtp.cabinet.test", smtp_port=465, security="ssl")
    template = EmailTemplate.objects.create(
        category=TemplateCategory.objects.create(name="Informations"), label="Horaires", account=account,
        subject="Nos horaires", body_html="<p>Le cabinet est ouvert</p>")
    login(admin)
    page.goto(f"{live_server.url}/admin/messaging/emailtemplate/{template.pk}/change/")
    editor = page.locator(EDITOR)
    expect(editor).to_have_text("Le cabinet est ouvert")
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type(" du ")
    menu_button(page, "italic").click()
    page.keyboard.type("lundi au vendredi")
    screenshot(page, "rich-editor-admin")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Horaires")
    template.refresh_from_db()
    assert template.body_html == "<p>Le cabinet est ouvert du <em>lundi au vendredi</em></p>"


def test_demo_email_types_and_signatures_reach_patients_unchanged(page, login, live_server, admin):
    """Each demo body, opened in the editor, edited (a letter typed then erased, so the editor
    rewrites the field) and saved, is stored and sent exactly as before."""
    ensure_demo_messaging()
    patient = PatientFactory(first_name="Emma", last_name="Ablirant")
    appointment = AppointmentFactory(patient=patient, practitioner=PractitionerFactory(last_name="Molaire"),
                                     start=timezone.make_aware(dt.datetime(2026, 3, 2, 9, 30)))

    def received() -> dict[str, str]:
        return {
            template.label: compose_email(subject=template.subject, body_html=template.body_html,
                                          signature=template.signature, patient=patient, recipient=patient,
                                          appointment=appointment, today=dt.date(2026, 3, 1)).html
            for template in EmailTemplate.objects.select_related("signature")
        }

    before = received()
    bodies = {("email", t.pk): t.body_html for t in EmailTemplate.objects.all()}
    bodies |= {("signature", s.pk): s.body_html for s in Signature.objects.all()}
    assert len(before) == 3 and len(bodies) == 4  # the demo's three email types and its signature
    login(admin)
    for kind, pk in bodies:
        path = f"/messages/parametrage/emails/{pk}/" if kind == "email" else f"/messages/parametrage/signatures/{pk}/"
        page.goto(f"{live_server.url}{path}")
        editor = page.locator(EDITOR)
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.type("x")
        page.keyboard.press("Backspace")
        page.get_by_role("button", name="Enregistrer", exact=True).click()
        expect(page.locator(".alert-success")).to_be_visible()

    assert {("email", t.pk): t.body_html for t in EmailTemplate.objects.all()} | {
        ("signature", s.pk): s.body_html for s in Signature.objects.all()} == bodies
    assert received() == before
