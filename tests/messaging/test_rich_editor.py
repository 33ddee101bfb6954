"""The rich-text editor's server side: the widget (django-prose-editor's files, loaded without any
inline script), the forms and the admin using it, the cleaning of what it posts, and the demo's
email types and signatures sent exactly as before the editor changed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from messaging.admin import AdminEmailTemplateForm, AdminSignatureForm
from messaging.compose import compose_email
from messaging.demo import ensure_demo_messaging
from messaging.editor import AdminRichTextEditor, RichTextEditor
from messaging.forms import EmailTemplateForm, SignatureForm
from messaging.html import clean_editor_html, clean_html
from messaging.models import EmailTemplate, Signature
from messaging.views_mass import MassEmailBodyForm
from messaging.views_sending import EmailForm
from tests.factories import AppointmentFactory, PatientFactory, PractitionerFactory


def test_the_widget_is_a_textarea_the_module_turns_into_the_editor():
    html = RichTextEditor(height=260).render("body_html", "<p>Bonjour</p>", attrs={"id": "id_body_html"})
    assert html.startswith("<textarea") and "&lt;p&gt;Bonjour&lt;/p&gt;" in html
    assert 'data-rich-editor="{&quot;height&quot;: 260}"' in html and "merge-target" in html
    # Hidden by the editor, the textarea cannot be "required" (the browser would block silently).
    assert "required" not in html


def test_the_media_are_static_files_of_the_site_with_no_inline_script():
    media = str(AdminRichTextEditor().media)
    assert '<script src="/static/messaging/rich_editor.js" type="module"></script>' in media
    for css in ("django_prose_editor/material-icons.css", "django_prose_editor/editor.css",
                "django_prose_editor/overrides.css", "messaging/rich_editor.css"):
        assert f"/static/{css}" in media
    # No import map (an inline script, refused by script-src 'self'), nothing from elsewhere.
    assert "importmap" not in media and "http" not in media
    assert len(re.findall(r"<script", media)) == len(re.findall(r"<script src=\"/static/", media))


def test_the_module_imports_the_packaged_editor_by_a_path_that_exists():
    module = finders.find("messaging/rich_editor.js")
    source = open(module, encoding="utf-8").read()
    imported = re.findall(r'import\("(\.\./[^"]+)"\)', source)
    assert imported == ["../django_prose_editor/editor.js"]
    assert finders.find("django_prose_editor/editor.js")  # served from the package's static files
    assert not finders.find("tinymce/tinymce.min.js")


@pytest.mark.parametrize("form, field, widget", [
    (EmailTemplateForm, "body_html", RichTextEditor),
    (SignatureForm, "body_html", RichTextEditor),
    (AdminEmailTemplateForm, "body_html", AdminRichTextEditor),
    (AdminSignatureForm, "body_html", AdminRichTextEditor),
    (MassEmailBodyForm, "body", RichTextEditor),
])
@pytest.mark.django_db
def test_every_formatted_body_uses_the_editor(form, field, widget):
    assert type(form().fields[field].widget) is widget


def test_the_send_window_uses_the_editor():
    assert type(EmailForm(recipients=[], appointments=[]).fields["body_html"].widget) is RichTextEditor


@pytest.mark.parametrize("posted, stored", [
    # ProseMirror wraps list items' and cells' text in <p>: stored as TinyMCE wrote them.
    ("<ul><li><p>un</p></li><li><p>deux</p></li></ul>", "<ul><li>un</li><li>deux</li></ul>"),
    ('<ol start="3"><li><p>trois</p></li></ol>', "<ol><li>trois</li></ol>"),
    ('<table><tbody><tr><td colspan="2"><p>1</p></td><th><p>2</p></th></tr></tbody></table>',
     '<table><tbody><tr><td colspan="2">1</td><th>2</th></tr></tbody></table>'),
    # Two paragraphs in an item, or an aligned one, are the staff's formatting: kept.
    ("<ul><li><p>a</p><p>b</p></li></ul>", "<ul><li><p>a</p><p>b</p></li></ul>"),
    ('<ul><li><p style="text-align: center;">a</p></li></ul>', '<ul><li><p style="text-align: center">a</p></li></ul>'),
    # Browsers hand the editor rgb() colours: stored as the #rrggbb the palette offers.
    ('<p><span style="color: rgb(192, 57, 43);">rouge</span></p>', '<p><span style="color: #c0392b">rouge</span></p>'),
    ('<p><span style="background-color: rgb(255, 243, 160);">fond</span></p>',
     '<p><span style="background-color: #fff3a0">fond</span></p>'),
    ('<p><span style="color: rgb(300, 1, 1)">x</span></p>', '<p><span style="color: rgb(300, 1, 1)">x</span></p>'),
    ('<p><span style="color: #e03e2d">déjà</span></p>', '<p><span style="color: #e03e2d">déjà</span></p>'),
    # Still the allow-list: what could run is gone.
    ('<ul><li><p onclick="x()">a<script>alert(1)</script></p></li></ul><a href="javascript:x()">l</a>',
     "<ul><li>a</li></ul><a rel=\"noopener noreferrer\">l</a>"),
])
def test_what_the_editor_posts_is_cleaned_and_stored_as_before(posted, stored):
    assert clean_editor_html(posted) == stored


def test_rendering_keeps_colours_as_stored():
    # Only saving converts colours: a body stored with rgb() is sent as stored.
    html = '<p><span style="color: rgb(224, 62, 45)">r</span></p>'
    assert clean_html(html) == html


@pytest.mark.django_db
def test_the_settings_pages_store_the_editor_output_cleaned(admin_client):
    response = admin_client.post(reverse("messaging:signature_create"), {
        "label": "Dr Molaire", "placement": "footer",
        "body_html": '<p><span style="color: rgb(41, 128, 185);">Dr Molaire</span></p><ul><li><p>@CABTEL</p></li></ul>'
                     '<p><img src="x" onerror="alert(1)"></p>',
    })
    assert response.status_code == 302
    assert Signature.objects.get().body_html == (
        '<p><span style="color: #2980b9">Dr Molaire</span></p><ul><li>@CABTEL</li></ul><p><img></p>')


# What a patient received from each demo email type (with its signature) before the editor
# changed, for a fixed patient, practitioner and appointment.
DEMO_RECEIVED = {
    "Confirmation de rendez-vous": (
        "Confirmation de votre rendez-vous du 02/03/2026 à 09h30",
        "<p>Bonjour,</p><p>Le Dr MOLAIRE Marc a le plaisir de vous confirmer le rendez-vous de <strong>Emma "
        "ABLIRANT</strong> le <strong>02/03/2026 à 09h30</strong>.</p><p>Nous vous souhaitons une agréable "
        'journée.</p><div class="signature"><p>Le secrétariat du cabinet<br>Cabinet dentaire – </p></div>',
    ),
    "Rendez-vous manqué": (
        "Rendez-vous manqué du 02/03/2026 à 09h30",
        "<p>Bonjour,</p><p>Emma ABLIRANT n'a pas pu venir à son rendez-vous du 02/03/2026 à 09h30.</p><p>Merci de "
        "contacter le cabinet pour convenir d'un nouveau rendez-vous.</p><div class=\"signature\"><p>Le secrétariat "
        "du cabinet<br>Cabinet dentaire – </p></div>",
    ),
}


@pytest.mark.django_db
def test_demo_email_types_and_signatures_are_received_as_before():
    ensure_demo_messaging()
    patient = PatientFactory(first_name="Emma", last_name="Ablirant")
    appointment = AppointmentFactory(
        patient=patient, practitioner=PractitionerFactory(last_name="Molaire", first_name="Marc", initials="MM"),
        start=timezone.make_aware(dt.datetime(2026, 3, 2, 9, 30)))
    # Saved again through the editor's cleaning, every demo body is stored unchanged...
    for obj in [*EmailTemplate.objects.all(), *Signature.objects.all()]:
        assert clean_editor_html(obj.body_html) == obj.body_html
    # ...and each email type reaches the patient exactly as before.
    received = {
        t.label: (email.subject, email.html)
        # The types that existed when the editor was replaced (the correspondent's came later).
        for t in EmailTemplate.objects.select_related("signature").filter(label__in=DEMO_RECEIVED)
        for email in [compose_email(subject=t.subject, body_html=t.body_html, signature=t.signature, patient=patient,
                                    recipient=patient, appointment=appointment, today=dt.date(2026, 3, 1))]
    }
    assert received == DEMO_RECEIVED
