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

What nobody reads while it is made (the programmeur's PDFs, its planning and trace emails, a run's
stored texts, the administration commands) speaks the practice's language: ``practice_speaking``
activates it around that work, ``PracticeLanguageCommand`` around a command.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core.management.base import BaseCommand
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


def practice_speaking(func):
    """Decorator: ``func`` runs in the practice's language (read at each call, not at import),
    whatever the caller had active (a page's user, a worker, a shell), which is restored after.
    For what the programmeur produces with nobody present and what it stores or sends to others:
    a run started from a page by an English-speaking assistant still writes the French practice's
    planning, trace and reasons in French."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with translation.override(practice_language()):
            return func(*args, **kwargs)

    return wrapper


def _stored_practice_language() -> str:
    """``practice_language`` without creating the practice row nor caching it (a command may run
    before the first migrate or before the demo creates its practice)."""
    from practice.models import Practice

    try:
        return supported(Practice.objects.filter(pk=1).values_list("language", flat=True).first()) or (
            settings.LANGUAGE_CODE
        )
    except Exception:  # noqa: BLE001 - no database or no table yet: the settings' default
        return settings.LANGUAGE_CODE


class PracticeLanguageCommand(BaseCommand):
    """Base of the project's management commands: their help and what they print speak the
    practice's language (``Practice.language``, else ``settings.LANGUAGE_CODE``). Django itself
    activates no language for a command (gettext then falls back to LANGUAGE_CODE), so a practice
    set to English would get French from ``manage.py`` without this."""

    def run_from_argv(self, argv):
        # Also covers ``--help``, printed while the arguments are parsed, before ``execute``.
        with translation.override(_stored_practice_language()):
            return super().run_from_argv(argv)

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The help texts are read here (``help`` may be lazy: argparse wants a str).
        with translation.override(_stored_practice_language()):
            if self.help:
                self.help = str(self.help)
            return super().create_parser(prog_name, subcommand, **kwargs)

    def print_help(self, prog_name, subcommand):
        # ``manage.py help <command>`` prints the help without running the command.
        with translation.override(_stored_practice_language()):
            return super().print_help(prog_name, subcommand)

    def execute(self, *args, **options):
        # ``call_command`` (scripts, tests) comes in here without ``run_from_argv``.
        with translation.override(_stored_practice_language()):
            return super().execute(*args, **options)


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
