"""The navbar's "Paramétrage" menu in a real browser: a role sees the pages it can open."""

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_assistant_opens_the_settings_menu_and_a_page_it_lists(login, live_server):
    page = login(UserFactory(username="julie", first_name="Julie", role="Assistant(e)"))
    page.get_by_role("button", name="Paramétrage").click()
    menu = page.locator('[aria-labelledby="settings-menu"]')
    expect(menu.get_by_role("link")).to_have_text(
        ["Vue d'ensemble", "SMS types", "Emails types", "Catégories", "Signatures", "Champs personnalisés"]
    )
    menu.get_by_role("link", name="Emails types").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Emails types")
    expect(page.get_by_role("link", name="Comptes email")).to_have_count(0)


@pytest.mark.parametrize("width", [1366, 1024])
def test_an_administrators_french_menu_fits_a_laptop_screen(login, live_server, width):
    # Seen in the browser walk-through: at 1366 pixels the administrator's French menu widened
    # the page by 40 pixels ("Rendez-vous" on two lines, "Déconnexion" cut at the window's edge).
    page = login(UserFactory(username="sophie", first_name="Sophie", last_name="Lambert", role="Administrateur",
                             is_superuser=True))
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    logout = page.get_by_role("button", name="Déconnexion")
    box = logout.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    rdv = page.locator(".navbar-nav .nav-link", has_text="Rendez-vous").bounding_box()
    patients = page.locator(".navbar-nav .nav-link", has_text="Patients").bounding_box()
    assert rdv["height"] == patients["height"]  # one line each
