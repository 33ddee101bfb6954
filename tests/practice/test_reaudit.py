"""Findings of the security re-audit (issue 13) that are not in the URL walk, each with the
hostile request that showed it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.models import Channel, Mailing, MailingOrigin, Message, RecipientRole
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(assistant):
    patient = PatientFactory()
    mailing = Mailing.objects.create(origin=MailingOrigin.PATIENT_FILE, channel=Channel.SMS, requested_by=assistant)
    return Message.objects.create(mailing=mailing, channel=Channel.SMS, patient=patient,
                                  recipient_role=RecipientRole.PATIENT, to="+33612345678", body="Bonjour")


@pytest.mark.parametrize("target", ["/\\evil.example/", "//evil.example/", "https://evil.example/",
                                    "/\t/evil.example/"])
def test_a_history_action_never_sends_the_browser_to_another_site(assistant_client, message, target):
    response = assistant_client.post(reverse("sending:delete", args=[message.pk]), {"next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("sending:history", args=[message.patient_id])


def test_a_history_action_goes_back_to_the_page_it_came_from(assistant_client, message):
    back = reverse("sending:history", args=[message.patient_id]) + "?onglet=communication"
    response = assistant_client.post(reverse("sending:delete", args=[message.pk]), {"next": back})
    assert response["Location"] == back


def test_the_demo_inbox_ignores_a_malformed_email_number(assistant_client):
    response = assistant_client.get(reverse("sending:demo-inbox") + "?email=abc&onglet=email")
    assert response.status_code == 200


# The Administrateur (a practice's manager, staff but not superuser) manages staff accounts in
# the admin. It must not cross the line issue 13 drew: no role adds django-q schedules, and the
# superuser account (the installer's) stays out of its reach.


def _user_change_post(user, **extra):
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email, "is_active": "on", "is_staff": "on",
        "groups": [g.pk for g in user.groups.all()],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "01/01/2026", "date_joined_1": "10:00:00",
    }
    data.update(extra)
    return data


def test_an_administrateur_cannot_make_itself_superuser(admin_client, admin_user):
    from django.contrib.auth.models import Permission

    add_schedule = Permission.objects.get(content_type__app_label="django_q", codename="add_schedule")
    response = admin_client.post(f"/admin/auth/user/{admin_user.pk}/change/", _user_change_post(
        admin_user, is_superuser="on", user_permissions=[add_schedule.pk]))
    assert response.status_code in {200, 302}
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    assert not admin_user.has_perm("django_q.add_schedule")
    assert admin_client.get("/admin/django_q/schedule/add/").status_code == 403


def test_an_administrateur_cannot_give_its_role_django_q_rights(admin_client):
    from django.contrib.auth.models import Group, Permission

    group = Group.objects.get(name="Administrateur")
    add_schedule = Permission.objects.get(content_type__app_label="django_q", codename="add_schedule")
    perms = list(group.permissions.values_list("pk", flat=True)) + [add_schedule.pk]
    admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": group.name, "permissions": perms})
    assert not group.permissions.filter(pk=add_schedule.pk).exists()


def test_an_administrateur_cannot_take_over_the_superuser_account(admin_client):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("installateur", "i@example.com", "ancien-mot-de-passe-42")
    response = admin_client.post(f"/admin/auth/user/{root.pk}/password/", {
        "password1": "Nouveau-mot-de-passe-42", "password2": "Nouveau-mot-de-passe-42", "usable_password": "true"})
    assert response.status_code == 403
    response = admin_client.post(f"/admin/auth/user/{root.pk}/change/", _user_change_post(root, is_superuser="on",
                                                                                         is_active=""))
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.check_password("ancien-mot-de-passe-42") and root.is_active
    assert admin_client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    assert get_user_model().objects.filter(pk=root.pk).exists()


def test_an_administrateur_still_manages_staff_accounts(admin_client, assistant):
    response = admin_client.post(f"/admin/auth/user/{assistant.pk}/change/",
                                 _user_change_post(assistant, first_name="Juliette"))
    assert response.status_code == 302
    assistant.refresh_from_db()
    assert assistant.first_name == "Juliette" and not assistant.is_superuser


@pytest.mark.parametrize("name", ["../secret.txt", "patients/../../secret.txt", "/etc/passwd", "..%2Fsecret.txt",
                                  "patients\\..\\..\\secret.txt"])
def test_the_file_route_never_leaves_media_root_even_for_a_row_naming_it(assistant_client, settings, name):
    from patients.models import PatientImage

    media = settings.MEDIA_ROOT
    media.mkdir(parents=True, exist_ok=True)
    (media.parent / "secret.txt").write_text("SECRET")
    # A row written another way than the upload form (which never stores such a name).
    patient = PatientFactory()
    PatientImage.objects.bulk_create([PatientImage(patient=patient, image_type="panoramique")])
    PatientImage.objects.filter(patient=patient).update(file=name)
    response = assistant_client.get("/fichiers/" + name)
    assert response.status_code in {404, 400}
    assert b"SECRET" not in b"".join(getattr(response, "streaming_content", [response.content]))


def test_a_readable_smtp_password_is_shown_on_no_page(admin_client):
    from messaging.models import EmailAccount

    account = EmailAccount.objects.create(name="Cabinet", email="cabinet@example.fr", smtp_host="smtp.example.fr",
                                          username="cabinet", password="Mot-de-passe-SMTP-7319")
    pages = [reverse("messaging:account_edit", args=[account.pk]), reverse("messaging:accounts"),
             reverse("admin:messaging_emailaccount_change", args=[account.pk]),
             reverse("admin:messaging_emailaccount_changelist")]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200
        assert "Mot-de-passe-SMTP-7319" not in response.content.decode(), page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example/"])
def test_the_login_page_never_sends_the_browser_to_another_site(client, assistant, target):
    assistant.set_password("Un-mot-de-passe-42")
    assistant.save()
    response = client.post(reverse("login") + "?next=" + target,
                           {"username": assistant.username, "password": "Un-mot-de-passe-42", "next": target})
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]
