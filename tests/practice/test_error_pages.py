"""Production error pages (DEBUG off): the project's own, in French, in the look of base.html.
The 500 page needs neither the database nor the context processors (either may be what broke)."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production(settings):
    settings.DEBUG = False


def test_404_is_the_project_page_for_a_signed_in_user(client):
    client.force_login(UserFactory(role="Assistant(e)"))
    response = client.get("/patients/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert '<html lang="fr">' in page and "Page introuvable" in page and "bootstrap.min.css" in page
    assert 'id="mainnav"' in page and "Retour à l'accueil" in page.replace("&#x27;", "'")
    assert "Not Found" not in page


def test_404_for_a_visitor_not_signed_in():
    response = Client().get("/cette-page-n-existe-pas/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page introuvable" in page and 'id="mainnav"' not in page


def test_500_is_the_project_page_without_database_or_context_processors(
    settings, monkeypatch, django_assert_num_queries
):
    settings.ROOT_URLCONF = "tests.practice.urls_with_failure"
    # Context processors that would fail: the 500 page must not call them.
    from practice.models import Practice

    def broken(*args, **kwargs):
        raise RuntimeError("base de données injoignable")

    monkeypatch.setattr(Practice, "get", broken)
    client = Client(raise_request_exception=False)
    with django_assert_num_queries(0):
        response = client.get("/panne/")
    assert response.status_code == 500
    page = response.content.decode()
    assert '<html lang="fr">' in page and "Une erreur est survenue" in page and "bootstrap.min.css" in page
    assert "Server Error" not in page and "panne simulée" not in page  # no details for the visitor


def test_500_page_falls_back_to_plain_french_when_its_template_fails(settings, monkeypatch):
    settings.ROOT_URLCONF = "tests.practice.urls_with_failure"
    from django.template import loader

    def broken(*args, **kwargs):
        raise ValueError("Missing staticfiles manifest entry")

    monkeypatch.setattr(loader, "render_to_string", broken)
    response = Client(raise_request_exception=False).get("/panne/")
    assert response.status_code == 500
    assert "Une erreur est survenue" in response.content.decode()


def test_400_is_the_project_page():
    response = Client().get("/", HTTP_HOST="site-inconnu.example")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Demande refusée" in page and '<html lang="fr">' in page and "Bad Request" not in page


def test_a_form_posted_without_its_csrf_token_gets_the_french_page():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/connexion/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Formulaire expiré" in page and "Rien n'a été enregistré" in page and "CSRF verification" not in page
