"""Assistants run and test treatments but do not configure them (issue 2: no configuration)."""

import pytest

from scheduler.demo import ensure_demo_treatments

pytestmark = pytest.mark.django_db


def test_an_assistant_sees_and_tests_treatments_but_cannot_configure_them(assistant_client):
    treatment = ensure_demo_treatments()[0]
    page = assistant_client.get("/programmeur/").content.decode()
    assert treatment.title in page
    assert "/programmeur/nouveau/" not in page
    assert assistant_client.get(f"/programmeur/{treatment.pk}/tester/").status_code == 200
    assert assistant_client.get("/programmeur/nouveau/").status_code == 403
    assert assistant_client.post(f"/programmeur/{treatment.pk}/supprimer/").status_code == 403
    assert assistant_client.post(f"/programmeur/{treatment.pk}/actif/").status_code == 403


def test_an_administrator_configures_them(admin_client):
    treatment = ensure_demo_treatments()[0]
    assert admin_client.get("/programmeur/nouveau/").status_code == 200
    assert admin_client.get(f"/programmeur/{treatment.pk}/").status_code == 200
