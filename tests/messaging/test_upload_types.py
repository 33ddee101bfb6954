"""Email-type files: only the types a practice sends, content matching the extension, a size
cap; album images: images only (issue 13). The same refusal on the settings page and in the admin."""

from __future__ import annotations

import datetime as dt
import zipfile
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from messaging.models import AttachmentRule, EmailAccount, EmailTemplate, ExternalFile, TemplateCategory
from patients.models import PatientImage
from practice.uploads import validate_album_image, validate_attachment
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"


def png() -> bytes:
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


DOCX = zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
ODT = zipped({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<office/>"})


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def refusal(validator, name: str, data: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        validator(upload(name, data))
    return " ".join(caught.value.messages)


@pytest.mark.parametrize("name, data", [
    ("plan.pdf", b"%PDF-1.4 plan d'acces"),
    ("radio.png", png()),
    ("consignes.docx", DOCX),
    ("consignes.odt", ODT),
    ("devis.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
    ("horaires.txt", "Ouvert du lundi au vendredi, 8h–19h".encode()),
    ("tarifs.csv", b"acte;prix\ndetartrage;28,92\n"),
    ("lettre.rtf", b"{\\rtf1\\ansi Bonjour}"),
])
def test_the_files_a_practice_sends_are_accepted(name, data):
    validate_attachment(upload(name, data))


@pytest.mark.parametrize("name, data, expected", [
    ("page.html", HTML, "Type de fichier refusé (.html)"),
    ("setup.exe", b"MZ\x90\x00", "Type de fichier refusé (.exe)"),
    ("dessin.svg", b"<svg/>", "Type de fichier refusé (.svg)"),
    ("sans-extension", b"%PDF-1.4", "Type de fichier refusé (sans extension)"),
    ("page.pdf", HTML, "ne correspond pas à son extension .pdf"),
    ("faux.docx", b"PK\x03\x04 not a zip", "ne correspond pas à son extension .docx"),
    ("page.txt", HTML, "ne correspond pas à son extension .txt"),
    ("photo.jpg", png(), "ne correspond pas à son extension .jpg"),
])
def test_other_types_and_disguised_files_are_refused(name, data, expected):
    assert expected in refusal(validate_attachment, name, data)


def test_a_30_mb_file_is_refused_with_the_limit_in_french():
    assert "dépasse la taille maximale de 10 Mo" in refusal(
        validate_attachment, "gros.pdf", b"%PDF-1.4" + b"0" * (30 * 1024 * 1024)
    )
    with override_settings(EMAIL_ATTACHMENT_MAX_MB=0.5):
        assert "dépasse la taille maximale de 0,5 Mo" in refusal(
            validate_attachment, "moyen.pdf", b"%PDF-1.4" + b"0" * (600 * 1024)
        )


@pytest.fixture
def template():
    category = TemplateCategory.objects.create(name="Informations")
    account = EmailAccount.objects.create(name="Cabinet", email="c@cabinet.test", smtp_host="smtp.cabinet.test")
    return EmailTemplate.objects.create(category=category, label="Plan", account=account, subject="Plan",
                                        body_html="<p>x</p>")


def add_file(client, template, name, data):
    return client.post(
        reverse("messaging:attachment_add_file", args=[template.pk]),
        {"file-label": "Pièce", "file-file": SimpleUploadedFile(name, data)},
        follow=True,
    )


def test_the_email_type_page_refuses_an_html_file_with_a_french_message(client, praticien_user, template):
    client.force_login(praticien_user)
    page = add_file(client, template, "page.html", HTML).content.decode()
    assert "Pièce jointe non ajoutée : Type de fichier refusé (.html)." in page
    assert not ExternalFile.objects.exists() and not AttachmentRule.objects.exists()
    page = add_file(client, template, "plan.pdf", b"%PDF-1.4 plan").content.decode()
    assert "Pièce jointe ajoutée : Pièce." in page
    assert ExternalFile.objects.get().file.name == "fichiers-externes/plan.pdf"


def test_the_admin_refuses_the_same_files(admin_client):
    response = admin_client.post(
        reverse("admin:messaging_externalfile_add"),
        {"label": "Outil", "file": SimpleUploadedFile("outil.exe", b"MZ\x90\x00")},
    )
    assert response.status_code == 200
    assert "Type de fichier refusé (.exe)" in response.content.decode()
    assert not ExternalFile.objects.exists()


def test_album_images_only(assistant_client, admin_client):
    assert "Seules les images sont acceptées" in refusal(validate_album_image, "page.html", HTML)
    assert "pas une image lisible" in refusal(validate_album_image, "radio.png", b"\x89PNG not really")
    validate_album_image(upload("radio.png", png()))
    patient = PatientFactory()
    response = admin_client.post(
        reverse("admin:patients_patientimage_add"),
        {"patient": patient.pk, "file": SimpleUploadedFile("radio.html", HTML), "image_type": "panoramique",
         "stage": "initial", "taken_on": "15/01/2024", "label": ""},
    )
    assert response.status_code == 200
    assert "Seules les images sont acceptées" in response.content.decode()
    assert not PatientImage.objects.exists()
    with override_settings(PATIENT_IMAGE_MAX_MB=0.001):
        response = assistant_client.post(
            reverse("patients:image_add", args=[patient.pk]),
            {"file": SimpleUploadedFile("pano.png", png() + b"\x00" * 2048, content_type="image/png"),
             "image_type": "panoramique", "stage": "initial", "taken_on": dt.date(2024, 1, 15).strftime("%d/%m/%Y")},
        )
    assert "L&#x27;image dépasse la taille maximale de 0,001 Mo." in response.content.decode()
    assert not PatientImage.objects.exists()
