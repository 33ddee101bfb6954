"""The email account form in a real browser: Gmail and Outlook say they need an application
password as soon as they are chosen, and Gmail refuses the account's usual password."""

import pytest
from playwright.sync_api import expect

from messaging.models import EmailAccount
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_choosing_gmail_explains_the_application_password_and_refuses_the_usual_one(login, live_server):
    page = login(UserFactory(username="sophie", first_name="Sophie", role="Administrateur"))
    page.goto(f"{live_server.url}/messages/parametrage/comptes/nouveau/")
    note = page.locator("#app-password-note")
    expect(note).to_be_hidden()
    page.get_by_label("Fournisseur").select_option(label="Gmail")
    expect(note).to_be_visible()
    expect(note).to_contain_text("il faut un « mot de passe d'application »")
    expect(note).to_contain_text("myaccount.google.com/apppasswords")
    page.get_by_label("Fournisseur").select_option(label="Orange / Wanadoo")
    expect(note).to_be_hidden()
    page.get_by_label("Fournisseur").select_option(label="Hotmail / Outlook / Live")
    expect(note).to_contain_text("account.microsoft.com")

    page.get_by_label("Fournisseur").select_option(label="Gmail")
    page.locator("#id_name").fill("Gmail du cabinet")
    page.locator("#id_email").fill("cabinet.molaire@gmail.com")
    page.locator("#id_username").fill("cabinet.molaire@gmail.com")
    page.locator("#id_new_password").fill("MonMotDePasse2024")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator("#id_new_password_error")).to_contain_text("Ce n'est pas un mot de passe d'application Google")
    assert not EmailAccount.objects.exists()
    page.locator("#id_new_password").fill("abcd efgh ijkl mnop")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.get_by_text("Compte « Gmail du cabinet » enregistré.")).to_be_visible()
    assert EmailAccount.objects.get().password == "abcdefghijklmnop"
