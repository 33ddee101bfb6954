import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def _attempt(client, username, password):
    return client.post("/connexion/", {"username": username, "password": password}, REMOTE_ADDR="10.0.0.7")


def test_a_good_password_logs_in(client, assistant):
    response = _attempt(client, "assistante", "motdepasse-test")
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_wrong_password_says_so_in_french(client, assistant):
    response = _attempt(client, "assistante", "mauvais")
    assert response.status_code == 200
    assert "Saisissez un nom d’utilisateur et un mot de passe valides" in response.content.decode()


@override_settings(AXES_FAILURE_LIMIT=3)
def test_login_attempts_are_rate_limited(client, assistant):
    for _ in range(2):
        assert _attempt(client, "assistante", "mauvais").status_code == 200
    locked = _attempt(client, "assistante", "mauvais")
    assert locked.status_code == 429
    assert "Trop de tentatives de connexion" in locked.content.decode()
    # Even the right password is refused while the account is locked...
    assert _attempt(client, "assistante", "motdepasse-test").status_code == 429
    # ...but only for that user: another account from the same address still logs in.
    from tests.factories import UserFactory

    UserFactory(username="autre", role="Assistant(e)")
    assert _attempt(client, "autre", "motdepasse-test").status_code == 302


def test_english_is_available_through_django_i18n(client):
    client.post("/i18n/setlang/", {"language": "en", "next": "/connexion/"})
    response = client.get("/connexion/")
    assert 'lang="en"' in response.content.decode()
    assert "Username" in response.content.decode()
