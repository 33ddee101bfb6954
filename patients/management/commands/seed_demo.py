"""Load the demo practice (`make run`) or the benchmark volume. The logic is patients.demo."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from patients import demo
from practice.demo import DEMO_PASSWORD


class Command(BaseCommand):
    help = (
        "Crée le cabinet de démonstration : praticiens, fauteuils, natures, environ 2 000 patients et "
        "un an de rendez-vous. Sans effet sur une base qui contient déjà des patients."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Ne rien faire du tout si un patient existe (make run)."
        )
        parser.add_argument(
            "--patients", type=int, default=demo.DEFAULT_PATIENTS, help="Nombre de patients (défaut : 2000)."
        )
        parser.add_argument(
            "--appointments",
            type=int,
            default=None,
            help="Nombre exact de rendez-vous (défaut : des journées réalistes, environ 5 600).",
        )
        parser.add_argument(
            "--seed", type=int, default=demo.DEFAULT_SEED, help="Graine du hasard (reproductible)."
        )
        parser.add_argument(
            "--batch-size", type=int, default=demo.BATCH_SIZE, help="Lignes par insertion groupée."
        )

    def handle(self, *args, if_empty, patients, appointments, seed, batch_size, **options):
        verbosity = options["verbosity"]
        try:
            summary = demo.seed_demo(
                patients=patients,
                appointments=appointments,
                now=timezone.now(),
                seed=seed,
                if_empty=if_empty,
                batch_size=batch_size,
                log=(lambda line: self.stdout.write(f"  {line}")) if verbosity > 1 else (lambda line: None),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        style = self.style.SUCCESS if summary.created else self.style.WARNING
        self.stdout.write(style(summary.message))
        if summary.created and verbosity:
            self.stdout.write(f"Comptes de démonstration (mot de passe : {DEMO_PASSWORD}) :")
            for username, first, last, role, *_ in demo.DEMO_USERS:
                self.stdout.write(f"  - {username:<11} {role} ({first} {last})")
