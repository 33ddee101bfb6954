import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db
def test_the_three_roles_exist_with_their_permissions():
    admin = Group.objects.get(name="Administrateur")
    praticien = Group.objects.get(name="Praticien")
    assistant = Group.objects.get(name="Assistant(e)")

    def codes(group):
        return set(group.permissions.values_list("codename", flat=True))

    assert {"change_patient", "change_practice", "configure_practice", "view_user"} <= codes(admin)
    assert {"view_patient", "change_appointment", "send_messages"} <= codes(assistant)
    assert "configure_practice" not in codes(assistant)
    assert "change_practice" not in codes(assistant)
    assert "view_user" not in codes(praticien)
    assert {"view_patient", "change_patient"} <= codes(praticien)


@pytest.mark.django_db
def test_an_assistant_is_refused_the_admin_with_a_403(assistant_client):
    response = assistant_client.get("/admin/")
    assert response.status_code == 403
    assert "Accès refusé" in response.content.decode()


@pytest.mark.django_db
def test_an_administrator_reaches_the_admin(admin_client):
    assert admin_client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/")
