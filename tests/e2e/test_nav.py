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
