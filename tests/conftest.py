import pytest

from tests.factories import UserFactory


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.postgresql_only("why")``: the test needs what only PostgreSQL gives (row
    locks skipped by concurrent transactions, several processes writing at once): on SQLite (the
    demo's database, run by `make test` for tests/messaging and tests/scheduler) it is skipped,
    and the report says why. A reason is required: "SQLite" alone explains nothing."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    for item in items:
        marker = item.get_closest_marker("postgresql_only")
        if marker is None:
            continue
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.postgresql_only needs its reason.")
        item.add_marker(pytest.mark.skip(reason=f"PostgreSQL seulement : {reason}"))


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """A request of an English-speaking user leaves English active in the thread (the middleware
    activates a language per request, as Django's own does): reset it, so that a test reading
    staff-facing texts outside a request sees the practice's language whatever ran before."""
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture
def admin_user(db):
    """An Administrateur (staff, not superuser): also what pytest-django's admin_client logs in."""
    return UserFactory(username="admin", role="Administrateur", is_superuser=False)


@pytest.fixture
def assistant(db):
    return UserFactory(username="assistante", first_name="Julie", role="Assistant(e)")


@pytest.fixture
def praticien_user(db):
    return UserFactory(username="praticien", first_name="Marc", role="Praticien")


@pytest.fixture
def assistant_client(client, assistant):
    client.force_login(assistant)
    return client
