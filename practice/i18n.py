"""The interface's language: each staff member's own choice, else the practice's default.

French is the source language (the msgids are the French strings); English comes from
``locale/en/LC_MESSAGES/django.po``. The browser's Accept-Language is deliberately ignored (unlike
Django's LocaleMiddleware): reception computers are shared and often set up in English, and a
French practice must see French unless a person chose otherwise.

Where the language comes from, in order:
1. a signed-in user: the session's copy of their StaffPreference (written at login and when they
   change it, so no request pays a query for it);
2. anyone else (the login page): the language cookie, set when a user last chose or signed in on
   this computer;
3. the practice's default (``Practice.language``), then ``settings.LANGUAGE_CODE``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import translation
from django.utils.cache import patch_vary_headers

SESSION_KEY = "_language"


def supported(code: str | None) -> str | None:
    """``code`` if it is one of settings.LANGUAGES, else None."""
    return code if code and code in dict(settings.LANGUAGES) else None


def practice_language() -> str:
    from practice.models import Practice

    try:
        return supported(Practice.get().language) or settings.LANGUAGE_CODE
    except Exception:  # noqa: BLE001 - no table yet (first migrate): the settings' default
        return settings.LANGUAGE_CODE


def user_language(user) -> str:
    """The language ``user`` sees: their own choice, else the practice's default."""
    from practice.models import StaffPreference

    chosen = StaffPreference.objects.filter(user=user).values_list("language", flat=True).first()
    return supported(chosen) or practice_language()


def remember(request, language: str) -> None:
    """Use ``language`` for this session from now on (the middleware sets the cookie)."""
    if hasattr(request, "session"):
        request.session[SESSION_KEY] = language
    translation.activate(language)
    request.LANGUAGE_CODE = language


@receiver(user_logged_in, dispatch_uid="practice.i18n.language_at_login")
def _language_at_login(sender, request, user, **kwargs):
    if request is not None:
        remember(request, user_language(user))


class UserLanguageMiddleware:
    """Activates the request's language (see the module docstring); after AuthenticationMiddleware.
    Keeps the language cookie in step with a signed-in user's choice, so the login page that
    follows a logout speaks the same language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = self._language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        # A view may have changed it (the language page, the login): answer in the new one.
        language = getattr(request, "LANGUAGE_CODE", language)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Cookie",))
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language
        ):
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response

    @staticmethod
    def _language(request) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session = request.session
            language = supported(session.get(SESSION_KEY))
            if language is None:
                # A session opened before languages existed: read the choice once.
                language = user_language(user)
                session[SESSION_KEY] = language
            return language
        return supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)) or practice_language()
