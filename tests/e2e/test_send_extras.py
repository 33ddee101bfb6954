"""The send window's extras as staff use them, in headless Chromium: a file from the computer attached
to an email, and "Envoyer maintenant" for an SMS held by the quiet hours."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import Message, MessageStatus, SandboxEmail, SandboxSms
from tests.e2e.conftest import screenshot
from tests.e2e.test_sending import demo_practice  # noqa: F401 (fixture)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet_hours_now():
    from practice.models import Practice

    local = timezone.localtime()
    practice = Practice.get()
    practice.quiet_start = (local - dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    practice.quiet_end = (local + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0)
    practice.save()


def test_an_sms_held_by_the_quiet_hours_is_sent_now_after_confirmation(login, live_server, demo_practice):  # noqa: F811
    patient, _ = demo_practice
    _quiet_hours_now()
    page = login(UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{patient.pk}/sms/")
    page.locator("#id_body").fill("Votre prothese est prete.")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("En attente (heures de silence)")
    assert SandboxSms.objects.count() == 0

    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    page.get_by_role("link", name="Envoyer maintenant").click()
    expect(page.get_by_role("heading", name="Envoyer maintenant un SMS retenu par les heures de silence")).to_be_visible()
    expect(page.locator("#send-now-text")).to_have_text("Votre prothese est prete.")
    expect(page.locator("#send-now-warning")).to_contain_text("il part tout de suite")
    page.get_by_role("button", name="Confirmer l'envoi maintenant").click()

    expect(page.locator("#result")).to_contain_text("Envoyé")
    expect(page.locator("#result")).to_contain_text("demandé par Julie Martin")
    assert [s.body for s in SandboxSms.objects.all()] == ["Votre prothese est prete."]
    message = Message.objects.get()
    assert message.status == MessageStatus.SENT and message.send_now_by.username == "julie"

    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    history = page.locator("#communication-history")
    expect(history).to_contain_text("Envoi immédiat pendant les heures de silence demandé par Julie Martin")
    expect(history.get_by_role("link", name="Envoyer maintenant")).to_have_count(0)


PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def test_a_file_from_the_computer_is_attached_to_the_email(login, live_server, demo_practice, tmp_path):  # noqa: F811
    patient, start = demo_practice
    page = login(UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{patient.pk}/email/")
    page.wait_for_load_state()
    page.get_by_label("Email type").select_option(label="Confirmation de rendez-vous")
    expect(page.locator(".prose-editor [contenteditable]")).to_contain_text("Emma ABLIRANT")
    subject = page.get_by_label("Objet").input_value()
    files = page.get_by_label("Joindre des fichiers de l'ordinateur")

    # A type no email takes is said at once and taken out of the choice.
    (tmp_path / "programme.exe").write_bytes(b"MZ")
    files.set_input_files(str(tmp_path / "programme.exe"))
    expect(page.locator("#fichiers-browser-error")).to_have_text("« programme.exe » : type de fichier refusé (.exe).")
    assert files.evaluate("input => input.files.length") == 0

    # A PDF that is not one is refused by the server; the window comes back as it was, with the
    # good file already kept.
    (tmp_path / "ordonnance.pdf").write_bytes(PDF)
    (tmp_path / "faux.pdf").write_bytes(b"<html>pas un PDF</html>")
    files.set_input_files([str(tmp_path / "ordonnance.pdf"), str(tmp_path / "faux.pdf")])
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator(".upload-error").first).to_contain_text(
        "« faux.pdf » : Le contenu du fichier ne correspond pas à son extension .pdf : fichier refusé.")
    expect(page.get_by_label("Objet")).to_have_value(subject)
    expect(page.locator(".prose-editor [contenteditable]")).to_contain_text("Emma ABLIRANT")
    expect(page.locator("#uploaded-files")).to_contain_text("ordonnance.pdf")
    expect(page.get_by_role("checkbox", name="ordonnance.pdf")).to_be_checked()
    screenshot(page, "email-window-file-refused")
    assert not Message.objects.exists()

    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    received = SandboxEmail.objects.get()
    assert received.attachments == ["ordonnance.pdf"]

    # The Communication tab offers the file, and "Renvoyer" sends it again.
    page.goto(f"{live_server.url}{patient.get_absolute_url()}?onglet=communication")
    history = page.locator("#communication-history")
    link = history.get_by_role("link", name="ordonnance.pdf")
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    assert open(download.value.path(), "rb").read() == PDF
    page.get_by_role("button", name="Renvoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    assert [e.attachments for e in SandboxEmail.objects.order_by("pk")] == [["ordonnance.pdf"], ["ordonnance.pdf"]]


def test_a_file_removed_while_the_window_stayed_open_is_asked_for_again(login, live_server, demo_practice,  # noqa: F811
                                                                         tmp_path):
    """The window keeps a chosen file (a form error), stays open past the purge of files never
    sent, then "Envoyer": the email does not leave without it, the file is named, and attached
    again it leaves."""
    from messaging.models import UploadedAttachment
    from messaging.tasks import reconcile_task

    patient, start = demo_practice
    page = login(UserFactory(username="julie", first_name="Julie", last_name="Martin", role="Assistant(e)"))
    page.goto(f"{live_server.url}/envois/patient/{patient.pk}/email/")
    page.wait_for_load_state()
    page.get_by_label("Email type").select_option(label="Confirmation de rendez-vous")
    expect(page.locator(".prose-editor [contenteditable]")).to_contain_text("Emma ABLIRANT")
    subject = page.get_by_label("Objet").input_value()
    page.get_by_label("Objet").fill("")
    (tmp_path / "ordonnance.pdf").write_bytes(PDF)
    files = page.get_by_label("Joindre des fichiers de l'ordinateur")
    files.set_input_files(str(tmp_path / "ordonnance.pdf"))
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_role("checkbox", name="ordonnance.pdf")).to_be_checked()

    # A day later, the window still open: the housekeeping task removes the files never sent.
    UploadedAttachment.objects.update(uploaded_at=timezone.now() - dt.timedelta(hours=25))
    assert reconcile_task()["purged_uploads"] == 1
    page.get_by_label("Objet").fill(subject)
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator(".upload-error").first).to_have_text(
        "La pièce jointe « ordonnance.pdf » n'est plus disponible : joignez-la de nouveau.")
    expect(page.locator(".upload-error").first).to_be_visible()
    expect(page.locator("#uploaded-files")).to_have_count(0)
    screenshot(page, "email-window-file-gone")
    assert not Message.objects.exists() and not SandboxEmail.objects.exists()

    files.set_input_files(str(tmp_path / "ordonnance.pdf"))
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#result")).to_contain_text("Envoyé")
    assert SandboxEmail.objects.get().attachments == ["ordonnance.pdf"]
