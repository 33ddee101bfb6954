import pytest

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


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
