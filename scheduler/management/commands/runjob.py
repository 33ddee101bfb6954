"""``python manage.py runjob <treatment id or title> [--date YYYY-MM-DD] [--dry-run]``"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scheduler.models import RunTrigger, Treatment, TreatmentKind
from scheduler.runner import run_refresh_counts, treatment_preview, treatment_run
from scheduler.services import practice_tz


class Command(BaseCommand):
    help = (
        "Exécute un traitement du programmeur pour une date (aujourd'hui par défaut), une seule fois "
        "par date ; --dry-run affiche les messages qui partiraient sans rien envoyer."
    )

    def add_arguments(self, parser):
        parser.add_argument("treatment", help="identifiant ou intitulé du traitement")
        parser.add_argument("--date", help="date d'exécution AAAA-MM-JJ (défaut : aujourd'hui, heure du cabinet)")
        parser.add_argument("--dry-run", action="store_true", help="montrer sans envoyer ni créer d'exécution")

    def handle(self, *args, treatment: str, date: str | None, dry_run: bool, **options):
        found = Treatment.objects.filter(pk=int(treatment)).first() if treatment.isdigit() else None
        found = found or Treatment.objects.filter(title__iexact=treatment).first()
        if found is None:
            raise CommandError(f"Traitement introuvable : {treatment}")
        try:
            run_date = dt.date.fromisoformat(date) if date else timezone.now().astimezone(practice_tz()).date()
        except ValueError as exc:
            raise CommandError(f"Date invalide (AAAA-MM-JJ attendu) : {date}") from exc

        if dry_run:
            preview = treatment_preview(treatment=found, run_date=run_date)
            plan = preview.plan
            self.stdout.write(f"{found.title} – exécution du {run_date:%d/%m/%Y}, recherche {plan.window.label()}")
            # A dry run says what a run would do: conditional, never "envoyé".
            self.stdout.write(
                f"{len(plan.targets)} patient(s) concerné(s), {len(preview.to_send)} message(s) serai(en)t envoyé(s)"
            )
            if found.kind == TreatmentKind.PLANNING:
                staff = ", ".join(f"{u.get_full_name() or u.username} ({u.email})" for u in plan.staff) or "personne"
                self.stdout.write(f"Le planning de {len(plan.planning)} rendez-vous serait envoyé en PDF à : {staff}")
            for row in preview.rows:
                status = f"ne serait pas envoyé : {row.skip_reason}" if row.skip_reason else "serait envoyé"
                self.stdout.write(f"- {row.channel} à {row.recipient} ({row.address or '—'}) [{status}]")
                if not row.skip_reason:
                    self.stdout.write(f"    {row.subject + ' – ' if row.subject else ''}{row.text}")
            for x in plan.left_out:
                self.stdout.write(f"- serait écarté : {x.name} – {x.reason}")
            return

        run = treatment_run(treatment=found, run_date=run_date, trigger=RunTrigger.COMMAND)
        run_refresh_counts(run)
        self.stdout.write(
            f"{found.title} – {run_date:%d/%m/%Y} : {run.get_status_display()} ; ciblés {run.targeted}, "
            f"envoyés {run.sent}, échecs {run.failed}, non envoyés {run.skipped}, en attente {run.waiting}"
        )
        if run.error:
            raise CommandError(run.error)
