"""Browser tests: Playwright drives Debian's Chromium, headless, against Django's live server."""

import os

import pytest
from playwright.sync_api import Locator, expect

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# How long an ``expect`` waits for the page to reach the state it asserts (Playwright's default
# is 5 s): a bound on waiting, never a measure of speed. On a loaded 2-core CI machine a page's
# script can take longer than 5 s to answer a click that goes to the server (the selection's
# count, for one), and the test failed for the load alone.
expect.set_options(timeout=15_000)


def _after_the_pages_scripts(action):
    """``action`` (a Locator method), once the current page's scripts have run: a person waits
    for the page before using it, and a click, typing or ticking that reaches a control before
    the script that handles it is lost (seen under the CI's load on the user menu, the tabs of
    a patient file, the selection of a search, a patient's suggestions). Returns at once when
    the page is loaded already."""

    def wrapped(self, *args, **kwargs):
        self.page.wait_for_load_state()
        return action(self, *args, **kwargs)

    wrapped.__name__, wrapped.__doc__ = action.__name__, action.__doc__
    return wrapped


for _name in ("click", "fill", "check", "uncheck", "set_checked", "select_option", "press", "type", "dblclick"):
    setattr(Locator, _name, _after_the_pages_scripts(getattr(Locator, _name)))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "fr-FR", "timezone_id": "Europe/Paris"}


@pytest.fixture(autouse=True)
def csp_violations(request):
    """Every browser test fails on a Content-Security-Policy violation, whatever page it visits:
    Chromium logs each one in the console ("Refused to ... because it violates the following
    Content Security Policy directive"). Returns the list, for tests that check it midway."""
    if "page" not in request.fixturenames:
        yield []
        return
    page = request.getfixturevalue("page")
    found: list[str] = []
    page.on(
        "console",
        lambda message: found.append(f"{page.url}: {message.text}") if "Content Security Policy" in message.text else None,
    )
    yield found
    assert not found, "Content-Security-Policy violations:\n" + "\n".join(found)


@pytest.fixture
def login(page, live_server):
    """login(user) signs ``user`` in through the real login form; returns the page."""

    def _login(user, password="motdepasse-test"):
        page.goto(f"{live_server.url}/connexion/")
        page.get_by_label("Nom d’utilisateur").fill(user.username)
        page.get_by_label("Mot de passe").fill(password)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_load_state()
        return page

    return _login


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot as ``$E2E_SCREENSHOTS/<name>.png`` when that variable names a
    folder (to look at the pages a change touched); nothing otherwise."""
    if folder := os.environ.get("E2E_SCREENSHOTS"):
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
