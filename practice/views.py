import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import requires_csrf_token

from patients import selectors as patient_selectors
from scheduler.selectors import scheduler_health
from scheduler.views import missed_context


@login_required
def home(request):
    today = timezone.localdate()
    # Everyone learns that the scheduler is down (their messages wait); the missed runs, and the
    # button that runs them, are for those who may open the programmeur.
    missed = missed_context(request.user) if request.user.has_perm("practice.use_scheduler") else []
    return render(
        request,
        "practice/home.html",
        {"today": today, "day_summary": patient_selectors.day_summary(day=today), "health": scheduler_health(),
         "missed": missed},
    )


class LanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=gettext_lazy("Langue de l'interface"),
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, practice_language: str, **kwargs):
        super().__init__(*args, **kwargs)
        default_name = dict(settings.LANGUAGES)[practice_language]
        self.fields["language"].choices = [
            ("", _("Langue du cabinet (%(language)s)") % {"language": default_name}),
            *settings.LANGUAGES,
        ]
        self.fields["language"].required = False


@login_required
def language(request):
    """The signed-in user's own interface language, kept with their account (StaffPreference)
    and applied at once, at each login and on this computer's login page."""
    from practice import i18n
    from practice.models import StaffPreference

    preference = StaffPreference.objects.filter(user=request.user).first()
    form = LanguageForm(
        request.POST or None,
        initial={"language": preference.language if preference else ""},
        practice_language=i18n.practice_language(),
    )
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["language"]
        StaffPreference.objects.update_or_create(user=request.user, defaults={"language": chosen})
        i18n.remember(request, i18n.supported(chosen) or i18n.practice_language())
        messages.success(request, _("Langue de l'interface enregistrée."))
        return redirect("home")
    return render(request, "practice/language.html", {"form": form})


def bad_request(request, exception=None):
    """``handler400``: templates/400.html rendered like Django's own view (no request context:
    the request may carry a forbidden host), with the reason when it is one staff can act on;
    a form over Django's size limit gets the French "trop volumineux" page (413)."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent

    from practice.middleware import too_large_response

    if isinstance(exception, RequestDataTooBig):
        return too_large_response(request, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exception, TooManyFilesSent):
        reason = _("Trop de fichiers envoyés en une fois.")
    elif isinstance(exception, TooManyFieldsSent):
        reason = _("Trop de champs envoyés en une fois.")
    else:
        reason = ""
    return HttpResponseBadRequest(loader.render_to_string("400.html", {"reason": reason}))


def permission_denied(request, exception=None):
    reason = str(exception) if exception and str(exception) else ""
    return render(request, "403.html", {"reason": reason}, status=403)


logger = logging.getLogger(__name__)

# The last resort when even templates/500.html cannot be rendered (a template or static files
# problem): plain French HTML, nothing to load.
SERVER_ERROR_FALLBACK = (
    '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Erreur du serveur</title></head>'
    "<body><h1>Une erreur est survenue</h1><p>Le serveur n'a pas pu traiter la demande. "
    "L'erreur a été enregistrée pour l'administrateur du cabinet.</p>"
    '<p><a href="/">Retour à l\'accueil</a></p></body></html>'
)


@requires_csrf_token
def server_error(request):
    """The project's 500 page (``handler500``). Rendered like Django's own: without the request's
    context processors and without touching the database, since the error may come from either;
    if the template itself cannot be rendered, a plain French page rather than the server's."""
    try:
        body = loader.render_to_string("500.html")
    except Exception:  # noqa: BLE001 - whatever broke, the visitor still gets a French page
        logger.exception("The 500 page could not be rendered")
        body = SERVER_ERROR_FALLBACK
    return HttpResponseServerError(body)
