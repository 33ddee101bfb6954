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
