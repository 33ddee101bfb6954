"""Re-encrypt the secrets stored in the database (SMTP passwords) under the current key.

Step of a key rotation (docs/configuration.md, "Rotation des clés"): after a new SECRET_KEY (the
old one in SECRET_KEY_FALLBACKS) or a new first FIELD_ENCRYPTION_KEYS entry, run this, then remove
the old key. Exits with status 1 when some secret cannot be read by any key.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from practice.crypto import UNREADABLE_MESSAGE
from practice.secrets import secrets_rotate


class Command(BaseCommand):
    help = "Rechiffre avec la clé actuelle tous les secrets stockés en base (mots de passe SMTP)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="Base de données (alias Django).")

    def handle(self, *args, database: str, **options):
        report = secrets_rotate(using=database)
        self.stdout.write(
            f"{report.rotated} secret(s) rechiffré(s) depuis une ancienne clé, "
            f"{report.current} déjà sous la clé actuelle (réécrit(s)), {report.empty} vide(s)."
        )
        if report.unreadable:
            for secret in report.unreadable:
                self.stderr.write(f"  - {secret.label} : {UNREADABLE_MESSAGE}")
            raise CommandError(
                f"{len(report.unreadable)} secret(s) illisible(s) avec toutes les clés configurées : laissé(s) tel(s) "
                "quel(s). Remettez l'ancienne clé (SECRET_KEY_FALLBACKS ou FIELD_ENCRYPTION_KEYS) et relancez, "
                "ou ressaisissez ces mots de passe dans Paramétrage → Comptes email."
            )
        self.stdout.write(self.style.SUCCESS(
            "Tous les secrets sont lisibles avec la clé actuelle : les anciennes clés peuvent être retirées."
        ))
