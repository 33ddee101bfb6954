"""Requests too large get a French page, never a bare 400/413, and nothing is saved (issue 13)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from messaging.models import TemplateCategory
from patients.models import PatientImage
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_default_limits(settings):
    assert settings.REQUEST_MAX_MB == 25  # the largest file allowed (20 Mo image) and the form around it
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 10 * 1024 * 1024
    assert "practice.middleware.RequestSizeLimitMiddleware" in settings.MIDDLEWARE


@override_settings(REQUEST_MAX_MB=1)
def test_an_upload_over_the_request_limit_gets_the_french_page_and_saves_nothing(assistant_client):
    patient = PatientFactory()
    response = assistant_client.post(
        reverse("patients:image_add", args=[patient.pk]),
        {"file": SimpleUploadedFile("pano.png", b"\x89PNG" + b"\x00" * (2 * 1024 * 1024)), "image_type": "panoramique",
         "stage": "initial", "taken_on": "15/01/2024"},
        HTTP_REFERER=f"http://testserver{patient.get_absolute_url()}",
    )
    assert response.status_code == 413
    page = response.content.decode()
    assert "Envoi trop volumineux" in page and "dépasse la taille maximale de 1 Mo" in page
    assert f'href="http://testserver{patient.get_absolute_url()}"' in page  # back to the form
    assert not PatientImage.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=50_000)
def test_a_form_over_the_field_limit_gets_the_french_page_not_bad_request(praticien_user, client):
    client.force_login(praticien_user)
    category = TemplateCategory.objects.create(name="Rappels")
    response = client.post(reverse("messaging:category_edit", args=[category.pk]), {"name": "x" * 60_000})
    assert response.status_code == 413
    page = response.content.decode()
    assert "Envoi trop volumineux" in page and "dépasse la taille maximale de 49 Ko" in page
    assert "Bad Request" not in page
    category.refresh_from_db()
    assert category.name == "Rappels"


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5)
def test_too_many_fields_french_400(praticien_user, client):
    client.force_login(praticien_user)
    category = TemplateCategory.objects.create(name="Rappels")
    response = client.post(reverse("messaging:category_edit", args=[category.pk]), {f"f{n}": "1" for n in range(10)})
    assert response.status_code == 400
    assert "Trop de champs envoyés en une fois." in response.content.decode()
