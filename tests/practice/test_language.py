"""The interface's language: French by default whatever the browser says, English for a user who
chose it (kept with the account, applied at login and on every page), the practice's default for
the others; and a catalogue that is complete and compiled."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

from practice.models import Practice, StaffPreference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
# The templates' and Python's strings (django), the scripts' (djangojs, served by /jsi18n/).
CATALOGUES = [LOCALE / "en" / "LC_MESSAGES" / "django.po", LOCALE / "en" / "LC_MESSAGES" / "djangojs.po"]


def _login(client, username):
    return client.post("/connexion/", {"username": username, "password": "motdepasse-test"}, REMOTE_ADDR="10.0.0.8")


def test_french_by_default_even_for_an_english_browser(client, assistant):
    page = client.get("/connexion/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert 'lang="fr"' in page.content.decode() and "Se connecter" in page.content.decode()
    _login(client, "assistante")
    home = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "Bonjour Julie" in home and "Déconnexion" in home


def test_a_user_who_chose_english_gets_it_at_login_and_on_the_login_page_after(client):
    user = UserFactory(username="anna", first_name="Anna", role="Assistant(e)")
    StaffPreference.objects.create(user=user, language="en")
    response = _login(client, "anna")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    home = client.get("/").content.decode()
    assert 'lang="en"' in home
    assert "Hello Anna" in home and "Sign out" in home and "Patient search" in home
    assert "Déconnexion" not in home and "Recherche de patients" not in home
    client.post("/deconnexion/")
    login_page = client.get("/connexion/").content.decode()
    assert "Sign in to reach the patients and the messages." in login_page


def test_each_user_sees_their_own_language(client, assistant):
    UserFactory(username="anna", role="Assistant(e)")
    StaffPreference.objects.create(user_id=UserFactory(username="anna").pk, language="en")
    _login(client, "anna")
    assert "Sign out" in client.get("/").content.decode()
    client.post("/deconnexion/")
    _login(client, "assistante")
    assert "Déconnexion" in client.get("/").content.decode()


def test_the_language_page_stores_the_choice_and_applies_it_at_once(assistant_client, assistant):
    page = assistant_client.get("/langue/").content.decode()
    assert "Langue de l'interface" in page and "Langue du cabinet (Français)" in page
    response = assistant_client.post("/langue/", {"language": "en"}, follow=True)
    assert StaffPreference.objects.get(user=assistant).language == "en"
    assert "Interface language saved." in response.content.decode()
    assert "Sign out" in assistant_client.get("/").content.decode()
    # Back to the practice's language.
    assistant_client.post("/langue/", {"language": ""})
    assert StaffPreference.objects.get(user=assistant).language == ""
    assert "Déconnexion" in assistant_client.get("/").content.decode()


def test_an_unknown_language_is_refused_with_a_message(assistant_client, assistant):
    response = assistant_client.post("/langue/", {"language": "de"})
    assert response.status_code == 200
    assert "Sélectionnez un choix valide" in response.content.decode()
    assert not StaffPreference.objects.filter(user=assistant, language="de").exists()


def test_the_practice_default_applies_to_users_without_a_choice(client, assistant):
    practice = Practice.get()
    practice.language = "en"
    practice.save()
    assert "Sign in" in client.get("/connexion/").content.decode()
    _login(client, "assistante")
    assert "Sign out" in client.get("/").content.decode()
    # A user's own choice wins over the practice's.
    StaffPreference.objects.create(user=UserFactory(username="fr-user", role="Assistant(e)"), language="fr")
    client.post("/deconnexion/")
    _login(client, "fr-user")
    assert "Déconnexion" in client.get("/").content.decode()


def test_english_dates_and_times(client):
    import datetime as dt

    from django.utils import translation

    from patients.templatetags.fr_format import duree, heure

    with translation.override("en"):
        assert heure(dt.time(10, 5)) == "10:05"
        assert duree(dt.timedelta(hours=2)) == "2 hours"
    with translation.override("fr"):
        assert heure(dt.time(10, 5)) == "10h05"
        assert duree(dt.timedelta(hours=2)) == "2 heures"


# The catalogue -----------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%[sd]|\{\w*\}")


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: p.name)
def test_every_french_string_has_its_english_translation_with_the_same_placeholders(path):
    po = polib.pofile(str(path))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    assert not untranslated, f"{len(untranslated)} untranslated: {untranslated[:10]}"
    assert not po.fuzzy_entries(), "fuzzy entries left in the .po"
    for entry in po.translated_entries():
        pairs = [(entry.msgid, entry.msgstr)] if not entry.msgid_plural else [
            (entry.msgid, entry.msgstr_plural[0]), (entry.msgid_plural, entry.msgstr_plural[1])
        ]
        for french, english in pairs:
            assert sorted(PLACEHOLDER.findall(french)) == sorted(PLACEHOLDER.findall(english)) or (
                # A singular may name its count in words ("one message") rather than %(n)d.
                entry.msgid_plural and french == entry.msgid
            ), (french, english)


@pytest.mark.parametrize("path", [*CATALOGUES, *(p.parent.parent.parent / "fr" / "LC_MESSAGES" / p.name for p in CATALOGUES)],
                         ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_the_compiled_catalogue_is_the_po_file_compiled(path):
    """The .mo is committed (a fresh machine may have no gettext tools): it must match the .po."""
    po = polib.pofile(str(path))
    mo = polib.mofile(str(path.with_suffix(".mo")))
    compiled = {(e.msgctxt, e.msgid): (e.msgstr, dict(e.msgstr_plural)) for e in mo}
    for entry in po.translated_entries():
        assert compiled.get((entry.msgctxt, entry.msgid)) == (entry.msgstr, dict(entry.msgstr_plural)), (
            f"{path.with_suffix('.mo')} is out of date for {entry.msgid!r}: "
            "run `make messages` (or scripts/compile_messages.py)"
        )


def test_language_code_is_the_default_when_the_practice_has_none(client, assistant, settings):
    settings.LANGUAGE_CODE = "en"
    assert Practice.get().language == ""
    assert "Sign in" in client.get("/connexion/").content.decode()


def test_french_counts_follow_french_rules_and_english_its_own(assistant_client):
    """'0 patient' in French (the plural from 2 on), '0 patients' in English."""
    from django.utils import translation
    from django.utils.translation import ngettext

    with translation.override("fr"):
        assert ngettext("%(n)s patient", "%(n)s patients", 0) % {"n": 0} == "0 patient"
        assert ngettext("%(n)s patient", "%(n)s patients", 2) % {"n": 2} == "2 patients"
    with translation.override("en"):
        assert ngettext("%(n)s patient", "%(n)s patients", 0) % {"n": 0} == "0 patients"
        assert ngettext("%(n)s patient", "%(n)s patients", 1) % {"n": 1} == "1 patient"


def test_the_scripts_catalogue_is_served_in_the_users_language(client):
    english = UserFactory(username="anna", role="Assistant(e)")
    StaffPreference.objects.create(user=english, language="en")
    client.force_login(english)
    catalogue = client.get("/jsi18n/")
    assert catalogue.status_code == 200 and catalogue["Content-Type"].startswith("text/javascript")
    assert "No result" in catalogue.content.decode()


def test_merged_values_stay_in_the_practices_language_for_an_english_user():
    """A choice's label merged into a patient's message (@PCIVIL, @PTYPE) joins the practice's
    own French text, whatever the language of the staff member who sends it."""
    from django.utils import translation

    from messaging.merge import MergeContext, render
    from tests.factories import PatientFactory

    patient = PatientFactory(civility="Mme", first_name="Anaïs", last_name="Adam")
    with translation.override("en"):
        rendered = render("@PCIVIL @PNOM, @PTYPE", MergeContext(patient=patient))
    assert rendered.text == "Mme ADAM, Adulte"
