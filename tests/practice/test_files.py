"""Stored files are served only through practice.files.stored_file: login, the owner's
permission, always a download with nosniff (issue 13, "patient files behind login")."""

from __future__ import annotations

import datetime as dt
import importlib
from io import BytesIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings
from django.urls import Resolver404, resolve, reverse

from messaging.dispatch import dispatch_pending
from messaging.models import Channel, ExternalFile, MailingOrigin, Message
from messaging.outbox import mailing_create
from messaging.recipients import recipients_for
from patients.models import PatientImage
from scheduler.models import RunStatus, TreatmentKind, TreatmentRun
from tests.factories import PatientFactory, UserFactory
from tests.messaging.sending_helpers import NOON, make_account
from tests.scheduler.conftest import make_treatment

pytestmark = pytest.mark.django_db


def png_bytes() -> bytes:
    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def xray():
    image = PatientImage(patient=PatientFactory(), image_type="panoramique", taken_on=dt.date(2024, 1, 15))
    image.file.save("pano.png", ContentFile(png_bytes()), save=False)
    image.save()
    return image


@pytest.fixture
def run_with_letters():
    treatment = make_treatment(kind=TreatmentKind.APPOINTMENTS, title="Liste J+1", make_list=True)
    run = TreatmentRun.objects.create(treatment=treatment, run_date=dt.date(2024, 3, 4), status=RunStatus.DONE)
    run.document.save("liste-2024-03-04.pdf", ContentFile(b"%PDF-1.4 liste"), save=True)
    default_storage.save(run.letters_name, ContentFile(b"%PDF-1.4 courriers"))
    return run


@pytest.fixture
def no_role_client(client):
    """Signed in, but in no role: no permission at all."""
    client.force_login(UserFactory(username="stagiaire"))
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def url(name: str) -> str:
    return reverse("stored_file", args=[name])


def test_the_file_route_is_media_url_and_there_is_no_public_media_route_even_in_the_demo(settings):
    import practice.urls

    assert default_storage.url("patients/1/images/pano.png") == "/fichiers/patients/1/images/pano.png"
    with override_settings(DEBUG=True):
        demo_urls = importlib.reload(practice.urls)
    try:
        with pytest.raises(Resolver404):
            resolve("/media/patients/1/images/pano.png", urlconf=demo_urls)
        assert resolve("/fichiers/patients/1/images/pano.png", urlconf=demo_urls).url_name == "stored_file"
    finally:
        importlib.reload(practice.urls)


def test_anonymous_is_sent_to_the_login_page(client, xray, run_with_letters):
    for target in (url(xray.file.name), url(run_with_letters.document.name),
                   reverse("patients:image_file", args=[xray.pk])):
        response = client.get(target)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), target


def test_signed_in_without_the_right_gets_403(no_role_client, xray, run_with_letters):
    for name in (xray.file.name, run_with_letters.document.name, run_with_letters.letters_name):
        response = no_role_client.get(url(name))
        assert response.status_code == 403, name
        assert "pas accès à ce fichier." in response.content.decode()


def test_album_image_inline_as_a_safe_image_type(assistant_client, xray):
    for target in (url(xray.file.name), reverse("patients:image_file", args=[xray.pk])):
        response = assistant_client.get(target)
        assert response.status_code == 200
        assert body(response) == png_bytes()
        assert response["Content-Type"] == "image/png"
        assert response["Content-Disposition"] == 'inline; filename="pano.png"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]


def test_run_list_and_letters_are_downloads_for_the_scheduler_users(assistant_client, run_with_letters):
    run = run_with_letters
    page = assistant_client.get(reverse("scheduler:run", args=[run.pk])).content.decode()
    assert f'href="{url(run.document.name)}"' in page and f'href="{url(run.letters_name)}"' in page
    # The link reads as the file's name, not its storage path (seen in the walk-through).
    name = run.document.name.rsplit("/", 1)[-1]
    assert f'download>{name}</a>' in page and f">{run.document.name}<" not in page
    for name, content in ((run.document.name, b"%PDF-1.4 liste"), (run.letters_name, b"%PDF-1.4 courriers")):
        response = assistant_client.get(url(name))
        assert response.status_code == 200
        assert body(response) == content
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"


def test_an_uploaded_html_file_never_runs(praticien_user, client):
    """An .html stored as an email-type file (as the old form allowed) comes back as opaque bytes."""
    hostile = ExternalFile(label="Piège")
    hostile.file.save("piege.html", ContentFile(b"<script>alert(document.cookie)</script>"), save=True)
    client.force_login(praticien_user)
    response = client.get(url(hostile.file.name))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="piege.html"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_svg_in_the_album_is_not_shown_inline(assistant_client):
    image = PatientImage(patient=PatientFactory(), image_type="panoramique", taken_on=dt.date(2024, 1, 15))
    image.file.save("dessin.svg", ContentFile(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"), save=False)
    image.save()
    response = assistant_client.get(reverse("patients:image_file", args=[image.pk]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_file_no_record_owns_is_not_served(assistant_client, xray):
    default_storage.save("patients/1/images/orphelin.png", ContentFile(png_bytes()))
    assert assistant_client.get(url("patients/1/images/orphelin.png")).status_code == 404
    assert assistant_client.get("/fichiers/../practice/settings.py").status_code == 404
    assert assistant_client.get(url("patients/../../etc/passwd")).status_code == 404


def test_kept_attachment_of_a_sent_email_for_who_sees_the_history(assistant, client, tmp_path):
    patient = PatientFactory()
    mailing = mailing_create(channel=Channel.EMAIL, origin=MailingOrigin.PATIENT_FILE, requested_by=None,
                             recipients=recipients_for(patient=patient, channel=Channel.EMAIL)[:1],
                             email_subject="Radio", email_body_html="<p>Votre radio</p>", account=make_account())
    pano = tmp_path / "pano.jpg"
    pano.write_bytes(b"JPEGDATA")
    Message.objects.filter(mailing=mailing).update(
        attachments=[{"filename": "pano.jpg", "path": str(pano), "mimetype": "image/jpeg"}]
    )
    dispatch_pending(now=NOON)
    kept = Message.objects.get().attachments[0]["path"]
    assert client.get(url(kept)).status_code == 302
    client.force_login(UserFactory(username="stagiaire"))
    assert client.get(url(kept)).status_code == 403
    client.force_login(assistant)
    history = client.get(reverse("sending:history", args=[patient.pk])).content.decode()
    assert f'href="{url(kept)}"' in history
    response = client.get(url(kept))
    assert body(response) == b"JPEGDATA"
    assert response["Content-Disposition"] == 'attachment; filename="pano.jpg"'
    Message.objects.update(hidden=True)  # deleted from the history: its attachments go with it
    assert client.get(url(kept)).status_code == 404


@override_settings(MEDIA_SENDFILE="nginx", MEDIA_SENDFILE_PREFIX="/fichiers-internes/")
def test_nginx_sends_the_bytes_after_the_check(assistant_client, run_with_letters):
    response = assistant_client.get(url(run_with_letters.letters_name))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/fichiers-internes/{run_with_letters.letters_name}"
    assert response.content == b""
    assert response["Content-Disposition"] == 'attachment; filename="courriers.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


@override_settings(MEDIA_SENDFILE="apache")
def test_apache_sends_the_bytes_after_the_check(assistant_client, settings, run_with_letters):
    response = assistant_client.get(url(run_with_letters.document.name))
    assert response["X-Sendfile"] == str(settings.MEDIA_ROOT / run_with_letters.document.name)
    assert response.content == b""


@override_settings(MEDIA_SENDFILE="nginx")
def test_nginx_is_not_asked_for_a_refused_file(no_role_client, run_with_letters):
    response = no_role_client.get(url(run_with_letters.document.name))
    assert response.status_code == 403 and not response.has_header("X-Accel-Redirect")


def test_admin_and_settings_pages_link_to_the_protected_route(admin_client, xray):
    hostile = ExternalFile(label="Plan")
    hostile.file.save("plan.pdf", ContentFile(b"%PDF-1.4 plan"), save=True)
    page = admin_client.get(reverse("admin:patients_patientimage_change", args=[xray.pk])).content.decode()
    assert f'href="{url(xray.file.name)}"' in page and "/media/" not in page
    page = admin_client.get(reverse("admin:messaging_externalfile_change", args=[hostile.pk])).content.decode()
    assert f'href="{url(hostile.file.name)}"' in page
    assert admin_client.get(url(hostile.file.name)).status_code == 200
