"""Load the demo practice (`make run`) or the benchmark volume. The logic is patients.demo."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from patients import demo
from practice.demo import DEMO_PASSWORD
from practice.i18n import PracticeLanguageCommand
from practice.roles import role_label


class Command(PracticeLanguageCommand):
    help = gettext_lazy(
        "Crée le cabinet de démonstration : praticiens, fauteuils, natures, environ 2 000 patients et "
        "un an de rendez-vous. Sans effet sur une base qui contient déjà des patients."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help=gettext("Ne rien faire du tout si un patient existe (make run).")
        )
        parser.add_argument(
            "--patients", type=int, default=demo.DEFAULT_PATIENTS, help=gettext("Nombre de patients (défaut : 2000).")
        )
        parser.add_argument(
            "--appointments",
            type=int,
            default=None,
            help=gettext("Nombre exact de rendez-vous (défaut : des journées réalistes, environ 5 600)."),
        )
        parser.add_argument(
            "--seed", type=int, default=demo.DEFAULT_SEED, help=gettext("Graine du hasard (reproductible).")
        )
        parser.add_argument(
            "--batch-size", type=int, default=demo.BATCH_SIZE, help=gettext("Lignes par insertion groupée.")
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help=gettext(
                "Charger la démo même avec DEBUG désactivé : chaque compte créé reçoit alors un mot de "
                "passe aléatoire, affiché une seule fois."
            ),
        )

    def handle(self, *args, if_empty, patients, appointments, seed, batch_size, allow_production, **options):
        verbosity = options["verbosity"]
        passwords = None
        if not settings.DEBUG:
            # The demo creates a superuser: with the well-known password on a production server,
            # anyone who has read the docs could sign in as administrator.
            if not allow_production:
                raise CommandError(gettext(
                    "Refusé : DEBUG est désactivé (serveur de production). seed_demo crée des comptes "
                    "de démonstration, dont un superutilisateur. Pour une démo locale, lancez `make run` "
                    "(DEBUG=1) ; pour charger quand même la démo ici, ajoutez --allow-production "
                    "(mots de passe aléatoires, affichés une seule fois)."
                ))
            passwords = {username: secrets.token_urlsafe(12) for username, *_ in demo.DEMO_USERS}
        try:
            summary = demo.seed_demo(
                patients=patients,
                appointments=appointments,
                now=timezone.now(),
                seed=seed,
                if_empty=if_empty,
                batch_size=batch_size,
                passwords=passwords,
                log=(lambda line: self.stdout.write(f"  {line}")) if verbosity > 1 else (lambda line: None),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        style = self.style.SUCCESS if summary.created else self.style.WARNING
        self.stdout.write(style(summary.message))
        if passwords is not None:
            # Shown this once, whatever the verbosity: they are stored only as hashes.
            if summary.accounts_created:
                self.stdout.write(
                    gettext("Comptes créés, avec leur mot de passe (notez-les, ils ne seront plus affichés) :"))
            for username, first, last, role, *_ in demo.DEMO_USERS:
                if username in summary.accounts_created:
                    self.stdout.write(f"  - {username:<11} {passwords[username]}  {role_label(role)} ({first} {last})")
        elif summary.created and verbosity:
            self.stdout.write(gettext("Comptes de démonstration (mot de passe : %(password)s) :") % {
                "password": DEMO_PASSWORD})
            for username, first, last, role, *_ in demo.DEMO_USERS:
                self.stdout.write(f"  - {username:<11} {role_label(role)} ({first} {last})")
