import re

import pytest

pytestmark = pytest.mark.django_db


def _active(html: str) -> list[str]:
    html = html[html.index('id="mainnav"') : html.index("</nav>")]
    return re.findall(r'class="nav-link(?: dropdown-toggle)? active"[^>]*>([^<]+)<', html)


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/patients/", "Patients"),
        ("/patients/rendez-vous/", "Rendez-vous"),
        ("/recherches/rendez-vous/", "Recherches"),
        ("/messages/", "Messages"),
        ("/messages/parametrage/", "Paramétrage"),
        ("/programmeur/", "Programmeur"),
    ],
)
def test_the_navbar_highlights_the_section_of_the_page(admin_client, path, expected):
    response = admin_client.get(path)
    assert response.status_code == 200
    assert _active(response.content.decode()) == [expected]


def test_an_assistant_sees_no_settings_of_accounts_but_the_daily_sections(assistant_client):
    html = assistant_client.get("/").content.decode()
    for label in ("Patients", "Rendez-vous", "Recherches", "Messages", "Programmeur"):
        assert f">{label}<" in html
    assert "Administration" not in html


# Every page a navbar entry or a settings menu may link to: each role must see exactly those it
# can open (the link shown <=> the page answers 200; hidden <=> 403).
NAV_PAGES = {
    "/patients/": "Patients",
    "/patients/rendez-vous/": "Rendez-vous",
    "/recherches/rendez-vous/": "Recherche sur les rendez-vous",
    "/recherches/patients/": "Recherche de patients",
    "/publipostage/": "Publipostages",
    "/campagnes/": "Campagnes",
    "/messages/": "Messages",
    "/programmeur/": "Programmeur",
    "/messages/parametrage/": "Vue d'ensemble",
    "/messages/parametrage/sms/": "SMS types",
    "/messages/parametrage/emails/": "Emails types",
    "/messages/parametrage/categories/": "Catégories",
    "/messages/parametrage/signatures/": "Signatures",
    "/messages/parametrage/champs/": "Champs personnalisés",
    "/messages/parametrage/comptes/": "Comptes email",
    "/messages/parametrage/sms/reglages/": "Paramétrage SMS",
}


def _nav_links(html: str) -> dict[str, str]:
    """href -> label of every link of the navbar (menus included), but the brand and the user's
    own menu."""
    nav = html[html.index('<ul class="navbar-nav me-auto">') : html.index('id="user-menu"')]
    links = re.findall(r'<a class="(?:nav-link|dropdown-item)[^"]*" href="(/[^"]*)"[^>]*>([^<]+)</a>', nav)
    return {href: label.replace("&#x27;", "'") for href, label in links}


def _settings_side_menu(html: str) -> dict[str, str]:
    side = html[html.index('aria-label="Paramétrage"') : html.index("</nav>", html.index('aria-label="Paramétrage"'))]
    return dict(re.findall(r'href="(/[^"]*)"[^>]*>([^<]+)</a>', side))


@pytest.mark.parametrize(
    "role, settings_pages",
    [
        ("Administrateur", ["SMS types", "Emails types", "Catégories", "Signatures", "Champs personnalisés",
                            "Comptes email", "Paramétrage SMS"]),
        ("Praticien", ["SMS types", "Emails types", "Catégories", "Signatures", "Champs personnalisés"]),
        ("Assistant(e)", ["SMS types", "Emails types", "Catégories", "Signatures", "Champs personnalisés"]),
    ],
)
def test_each_role_sees_in_the_menus_exactly_the_pages_it_can_open(client, role, settings_pages):
    from django.urls import reverse

    from tests.factories import UserFactory

    client.force_login(UserFactory(role=role))
    assert set(NAV_PAGES) >= {reverse(f"messaging:{n}") for n in ("sms_list", "accounts", "sms_settings")}
    shown = _nav_links(client.get("/").content.decode())
    shown.pop("/admin/", None)  # Administration: is_staff, Django's own check
    assert set(shown) <= set(NAV_PAGES), set(shown) - set(NAV_PAGES)
    for href, label in NAV_PAGES.items():
        status = client.get(href).status_code
        if href in shown:
            assert status == 200, (href, status)
            assert shown[href] == label
        else:
            assert status == 403, f"{href} hidden from {role} but answers {status}"
    settings_menu = [label for href, label in shown.items() if href.startswith("/messages/parametrage/")]
    assert settings_menu == ["Vue d'ensemble", *settings_pages]
    side = _settings_side_menu(client.get("/messages/parametrage/").content.decode())
    assert list(side.values()) == ["Paramétrage", *settings_pages]


def test_a_user_without_any_settings_page_sees_no_settings_menu_and_is_refused(client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory()  # no role
    user.user_permissions.add(Permission.objects.get(codename="view_patient"))
    client.force_login(user)
    html = client.get("/patients/").content.decode()
    assert "Paramétrage" not in html
    links = _nav_links(html)
    assert list(links.values()) == ["Patients", "Recherche de patients"]
    assert client.get("/messages/parametrage/").status_code == 403
    assert client.get("/recherches/patients/").status_code == 200


def test_one_settings_permission_alone_shows_that_page_only(client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_emailtemplate"))
    client.force_login(user)
    links = _nav_links(client.get("/messages/parametrage/").content.decode())
    assert list(links.values()) == ["Vue d'ensemble", "Emails types"]
    assert client.get("/messages/parametrage/emails/").status_code == 200
    assert client.get("/messages/parametrage/sms/").status_code == 403
