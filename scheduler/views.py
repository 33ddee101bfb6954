"""The programmeur pages. Thin: each view checks ``practice.use_scheduler``, reads through
``selectors``, writes through ``services`` / ``runner`` and shows a refusal on the form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import EventMessageFormSet, KindChoiceForm, TestDateForm, TreatmentForm
from .late import catch_up_messages
from .models import RunStatus, RunTrigger, Treatment, TreatmentKind, TreatmentRun
from .runner import run_refresh_counts, treatment_preview, treatment_run


def scheduler_view(view):
    return login_required(permission_required("practice.use_scheduler", raise_exception=True)(view))


def scheduler_config_view(perm: str):
    """Configuring treatments is the administrators' (issue 2: assistants configure nothing)."""

    def decorate(view):
        return scheduler_view(permission_required(perm, raise_exception=True)(view))

    return decorate


def _today():
    return timezone.now().astimezone(services.practice_tz()).date()


RUN_NOW_REFUSED = _(
    "Ce traitement est inactif : seul un utilisateur autorisé à modifier les traitements peut "
    "l'exécuter à la main."
)


def can_run_now(user, treatment: Treatment) -> bool:
    """Running by hand sends real messages: an active treatment would send them anyway, an
    inactive one was switched off on purpose, and only those who may change treatments (and so
    could switch it on) may override that."""
    return treatment.active or user.has_perm("scheduler.change_treatment")


def missed_context(user) -> list[dict]:
    """The missed runs as the programmeur and home pages show them, each with whether ``user``
    may run it by hand (the rule of ``can_run_now``)."""
    return [{"run": m, "can_run": can_run_now(user, m.treatment)} for m in selectors.missed_runs()]


@scheduler_view
def index(request):
    return render(
        request,
        "scheduler/index.html",
        {"rows": selectors.treatment_rows(), "health": selectors.scheduler_health(), "kinds": TreatmentKind.choices,
         "missed": missed_context(request.user)},
    )


def _save(request, form: TreatmentForm):
    try:
        treatment = form.save(commit=False)
        treatment.kind = form.kind
        treatment.weekdays = form.cleaned_data.get("weekdays") or []
        services.treatment_save(
            treatment=treatment,
            criteria=form.criteria(),
            staff=form.cleaned_data.get("staff_recipients"),
            verifiers=form.cleaned_data.get("verifiers"),
        )
    except ValidationError as error:
        for field, errors in getattr(error, "error_dict", {None: error.error_list}).items():
            form.add_error(field if field in form.fields else None, errors)
        return None
    return treatment


@scheduler_config_view("scheduler.add_treatment")
def create(request):
    kind = request.POST.get("kind") or request.GET.get("kind")
    if kind not in TreatmentKind.values:
        return render(request, "scheduler/kind_choice.html", {"form": KindChoiceForm()})
    instance = Treatment(kind=kind, title=TreatmentKind(kind).label)
    if request.method == "POST" and "title" in request.POST:
        form = TreatmentForm(request.POST, instance=instance, kind=kind)
        if form.is_valid():
            with transaction.atomic():
                treatment = _save(request, form)
            if treatment is not None:
                messages.success(request, _("Traitement « %(title)s » enregistré.") % {"title": treatment.title})
                return redirect("scheduler:test", pk=treatment.pk)
    else:
        form = TreatmentForm(instance=instance, kind=kind)
    return render(request, "scheduler/form.html", {"form": form, "kind": kind, "kind_label": TreatmentKind(kind).label})


@scheduler_config_view("scheduler.change_treatment")
def edit(request, pk: int):
    treatment = get_object_or_404(Treatment, pk=pk)
    if request.method == "POST":
        form = TreatmentForm(request.POST, instance=treatment, kind=treatment.kind)
        if form.is_valid():
            with transaction.atomic():
                saved = _save(request, form)
            if saved is not None:
                messages.success(request, _("Traitement « %(title)s » enregistré.") % {"title": saved.title})
                return redirect("scheduler:index")
    else:
        form = TreatmentForm(instance=treatment, kind=treatment.kind)
    return render(
        request,
        "scheduler/form.html",
        {"form": form, "treatment": treatment, "kind": treatment.kind, "kind_label": treatment.get_kind_display()},
    )


@scheduler_config_view("scheduler.delete_treatment")
def delete(request, pk: int):
    treatment = get_object_or_404(Treatment, pk=pk)
    if request.method == "POST":
        title = treatment.title
        services.treatment_delete(treatment=treatment)
        messages.success(request, _("Traitement « %(title)s » supprimé.") % {"title": title})
        return redirect("scheduler:index")
    return render(request, "scheduler/confirm_delete.html", {"treatment": treatment})


@require_POST
@scheduler_config_view("scheduler.change_treatment")
def toggle(request, pk: int):
    treatment = get_object_or_404(Treatment, pk=pk)
    services.treatment_set_active(treatment=treatment, active=not treatment.active)
    done = _("Traitement « %(title)s » activé.") if treatment.active else _("Traitement « %(title)s » désactivé.")
    messages.success(request, done % {"title": treatment.title})
    return redirect("scheduler:index")


@scheduler_view
def test(request, pk: int):
    treatment = get_object_or_404(Treatment, pk=pk)
    form = TestDateForm(request.GET or None, initial={"date": _today()})
    if form.is_valid():
        run_date = form.cleaned_data["date"]
    else:
        run_date = _today()
        raw = request.GET.get("date", "").strip()
        if form.is_bound:
            # Never a silent fallback: the preview below would pass for the date that was asked.
            if raw:
                warning = _("Date invalide : « %(date)s ». Voici l'aperçu pour aujourd'hui (%(today)s).")
            else:
                warning = _("Date invalide : aucune date indiquée. Voici l'aperçu pour aujourd'hui (%(today)s).")
            messages.warning(request, warning % {"date": raw, "today": f"{run_date:%d/%m/%Y}"})
    preview = None
    error = ""
    try:
        preview = treatment_preview(treatment=treatment, run_date=run_date)
    except ValueError as exc:
        error = str(exc)
    # The run of that date, when done: the reminders it caught up afterwards, and why.
    done = TreatmentRun.objects.filter(treatment=treatment, run_date=run_date).first()
    catch_ups = list(catch_up_messages(done)) if done is not None else []
    return render(
        request,
        "scheduler/test.html",
        {"treatment": treatment, "form": form, "run_date": run_date, "preview": preview, "error": error,
         "done_run": done, "catch_ups": catch_ups,
         "runs_that_day": treatment.runs_on(run_date), "can_run_now": can_run_now(request.user, treatment),
         "run_now_refused": RUN_NOW_REFUSED},
    )


@require_POST
@scheduler_view
def run_now(request, pk: int):
    treatment = get_object_or_404(Treatment, pk=pk)
    if not can_run_now(request.user, treatment):
        messages.error(request, RUN_NOW_REFUSED)
        return redirect("scheduler:test", pk=treatment.pk)
    run_date = _today()
    if raw := request.POST.get("date", "").strip():
        # Only a run that was missed may be run for another day than today: the date comes from
        # the page, and a stale or edited one must not send a day's messages out of turn.
        missed = {m.run_date: m for m in selectors.missed_runs(treatment=treatment)}
        chosen = next((day for day in missed if day.isoformat() == raw), None)
        if chosen is None:
            messages.error(request, _("Aucune exécution manquée de « %(title)s » à rattraper pour cette date.") % {"title": treatment.title})
            return redirect("home" if request.POST.get("next") == "home" else "scheduler:index")
        run_date = chosen
    already = TreatmentRun.objects.filter(treatment=treatment, run_date=run_date, status=RunStatus.DONE).exists()
    run = treatment_run(treatment=treatment, run_date=run_date, trigger=RunTrigger.MANUAL, requested_by=request.user)
    if already:
        if run_date == _today():
            done = _("Ce traitement a déjà été exécuté aujourd'hui : rien n'a été envoyé une deuxième fois.")
        else:
            done = _("Ce traitement a déjà été exécuté pour le %(day)s : rien n'a été envoyé une deuxième fois.")
        messages.info(request, done % {"day": f"{run_date:%d/%m/%Y}"})
    elif run.error:
        messages.error(request, _("L'exécution a échoué : %(error)s") % {"error": run.error})
    else:
        messages.success(request, _("Traitement exécuté : les messages partent (aux heures autorisées)."))
    return redirect("scheduler:run", pk=run.pk)


@scheduler_view
def runs(request, pk: int):
    treatment = get_object_or_404(Treatment, pk=pk)
    return render(
        request, "scheduler/runs.html", {"treatment": treatment, "runs": treatment.runs.select_related("requested_by")[:200]}
    )


@scheduler_view
def run_detail(request, pk: int):
    run = get_object_or_404(TreatmentRun.objects.select_related("treatment", "requested_by"), pk=pk)
    run_refresh_counts(run)
    letters = run.letters_name if run.document and default_storage.exists(run.letters_name) else ""
    from messaging.policy import Reason

    found = list(selectors.run_messages(run))
    # Left out for missing merge data: listed apart, with the missing fields (their reason).
    missing = [m for m in found if m.error_code == Reason.MISSING_DATA]
    return render(request, "scheduler/run.html",
                  {"run": run, "letters": letters, "messages_list": [m for m in found if m not in missing],
                   "missing_list": missing})


@scheduler_config_view("scheduler.change_eventmessagesetting")
def events(request):
    formset = EventMessageFormSet(request.POST or None, queryset=selectors.event_settings())
    if request.method == "POST" and formset.is_valid():
        formset.save()
        messages.success(request, _("Messages d'événement enregistrés."))
        return redirect("scheduler:events")
    return render(request, "scheduler/events.html", {"formset": formset})

