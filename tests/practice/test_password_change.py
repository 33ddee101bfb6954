"""Staff change their own password from the user menu."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD = "motdepasse-test"  # tests.factories.UserFactory's
NEW = "Fauteuil-bleu-2027"


def test_the_user_menu_links_to_the_page(assistant_client):
    page = assistant_client.get("/").content.decode()
    assert 'href="/mot-de-passe/"' in page and "Changer mon mot de passe" in page
    form = assistant_client.get("/mot-de-passe/").content.decode()
    assert "Changer mon mot de passe" in form and "Ancien mot de passe" in form
    assert "Déconnexion" in form  # the project's page (base.html), not the admin's


def test_a_wrong_old_password_is_a_french_error_and_nothing_changes(client):
    user = UserFactory(username="claire", role="Assistant(e)")
    client.force_login(user)
    response = client.post("/mot-de-passe/", {"old_password": "pas-le-bon", "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 200
    assert "Votre ancien mot de passe est incorrect" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(OLD)


def test_a_weak_or_mismatched_new_password_is_refused_in_french(client):
    user = UserFactory(username="claire", role="Assistant(e)")
    client.force_login(user)
    page = client.post("/mot-de-passe/", {"old_password": OLD, "new_password1": NEW, "new_password2": NEW + "x"})
    assert "Les deux mots de passe ne correspondent pas" in page.content.decode()
    page = client.post("/mot-de-passe/", {"old_password": OLD, "new_password1": "123456", "new_password2": "123456"})
    assert "Ce mot de passe est trop court" in page.content.decode()
    user.refresh_from_db()
    assert user.check_password(OLD)


def test_changing_it_keeps_this_session_and_the_new_password_signs_in(client):
    user = UserFactory(username="claire", role="Assistant(e)")
    other = Client()
    other.force_login(user)  # the same person signed in on another computer
    client.force_login(user)
    response = client.post("/mot-de-passe/", {"old_password": OLD, "new_password1": NEW, "new_password2": NEW}, follow=True)
    assert response.redirect_chain[-1][0] == "/mot-de-passe/modifie/"
    assert "Mot de passe changé" in response.content.decode()
    assert client.get("/").status_code == 200, "still signed in here"
    assert other.get("/").status_code == 302, "the other session is closed"
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/mot-de-passe/")
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")
