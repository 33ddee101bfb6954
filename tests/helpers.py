"""Small helpers shared by the tests of pages."""

from __future__ import annotations

import html


def page_text(response) -> str:
    """A page's HTML with its entities decoded: the words as a reader sees them."""
    return html.unescape(response.content.decode())


def sign_in_speaking(client, language: str = "en", *, username: str = "anna", role: str = "Assistant(e)", **fields):
    """Sign ``client`` in as a new staff member (``role``) who chose ``language`` in the user
    menu (``StaffPreference``); returns the user."""
    from practice.models import StaffPreference
    from tests.factories import UserFactory

    user = UserFactory(username=username, role=role, **fields)
    StaffPreference.objects.create(user=user, language=language)
    client.force_login(user)
    return user
