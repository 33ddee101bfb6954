"""``python manage.py runjob <treatment id or title> [--date YYYY-MM-DD] [--dry-run]``

Speaks the practice's language (``practice.i18n.PracticeLanguageCommand``), as the run does."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from practice.i18n import PracticeLanguageCommand
from scheduler.formats import day_label
from scheduler.models import RunTrigger, Treatment, TreatmentKind
from scheduler.runner import run_refresh_counts, treatment_preview, treatment_run
from scheduler.services import practice_tz


class Command(PracticeLanguageCommand):
    help = gettext_lazy(
        "Exécute un traitement du programmeur pour une date (aujourd'hui par défaut), une seule fois "
        "par date ; --dry-run affiche les messages qui partiraient sans rien envoyer."
    )

    def add_arguments(self, parser):
        parser.add_argument("treatment", help=gettext("identifiant ou intitulé du traitement"))
        parser.add_argument("--date", help=gettext("date d'exécution AAAA-MM-JJ (défaut : aujourd'hui, heure du cabinet)"))
        parser.add_argument("--dry-run", action="store_true", help=gettext("montrer sans envoyer ni créer d'exécution"))

    def handle(self, *args, treatment: str, date: str | None, dry_run: bool, **options):
        found = Treatment.objects.filter(pk=int(treatment)).first() if treatment.isdigit() else None
        found = found or Treatment.objects.filter(title__iexact=treatment).first()
        if found is None:
            raise CommandError(gettext("Traitement introuvable : %(treatment)s") % {"treatment": treatment})
        try:
            run_date = dt.date.fromisoformat(date) if date else timezone.now().astimezone(practice_tz()).date()
        except ValueError as exc:
            raise CommandError(gettext("Date invalide (AAAA-MM-JJ attendu) : %(date)s") % {"date": date}) from exc

        if dry_run:
            preview = treatment_preview(treatment=found, run_date=run_date)
            plan = preview.plan
            self.stdout.write(gettext("%(title)s – exécution du %(day)s, recherche %(window)s") % {
                "title": found.title, "day": day_label(run_date), "window": plan.window.label()})
            # A dry run says what a run would do: conditional, never "envoyé".
            targets, to_send = len(plan.targets), len(preview.to_send)
            self.stdout.write(
                ngettext("%(n)d patient concerné", "%(n)d patients concernés", targets) % {"n": targets}
                + ", "
                + ngettext("%(n)d message serait envoyé", "%(n)d messages seraient envoyés", to_send) % {"n": to_send}
            )
            if found.kind == TreatmentKind.PLANNING:
                staff = ", ".join(f"{u.get_full_name() or u.username} ({u.email})" for u in plan.staff) or gettext(
                    "personne")
                self.stdout.write(gettext("Le planning de %(count)s rendez-vous serait envoyé en PDF à : %(staff)s") % {
                    "count": len(plan.planning), "staff": staff})
            for row in preview.rows:
                if row.skip_reason:
                    status = gettext("ne serait pas envoyé : %(reason)s") % {"reason": row.skip_reason}
                else:
                    status = gettext("serait envoyé")
                self.stdout.write("- " + gettext("%(channel)s à %(recipient)s (%(address)s) [%(status)s]") % {
                    "channel": row.channel, "recipient": row.recipient, "address": row.address or "—", "status": status})
                if not row.skip_reason:
                    self.stdout.write(f"    {row.subject + ' – ' if row.subject else ''}{row.text}")
            for x in plan.left_out:
                self.stdout.write("- " + gettext("serait écarté : %(name)s – %(reason)s") % {
                    "name": x.name, "reason": x.reason})
            return

        run = treatment_run(treatment=found, run_date=run_date, trigger=RunTrigger.COMMAND)
        run_refresh_counts(run)
        self.stdout.write(
            gettext(
                "%(title)s – %(day)s : %(status)s ; ciblés %(targeted)s, envoyés %(sent)s, échecs %(failed)s, "
                "non envoyés %(skipped)s, en attente %(waiting)s"
            ) % {"title": found.title, "day": f"{run_date:%d/%m/%Y}", "status": run.get_status_display(),
                 "targeted": run.targeted, "sent": run.sent, "failed": run.failed, "skipped": run.skipped,
                 "waiting": run.waiting}
        )
        if run.error:
            raise CommandError(run.error)
