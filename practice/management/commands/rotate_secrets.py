"""Re-encrypt the secrets stored in the database (SMTP passwords) under the current key.

Step of a key rotation (docs/configuration.md, "Rotation des clés"): after a new SECRET_KEY (the
old one in SECRET_KEY_FALLBACKS) or a new first FIELD_ENCRYPTION_KEYS entry, run this, then remove
the old key. Exits with status 1 when some secret cannot be read by any key.
"""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy, ngettext

from practice.crypto import UNREADABLE_MESSAGE
from practice.i18n import PracticeLanguageCommand
from practice.secrets import secrets_rotate


class Command(PracticeLanguageCommand):
    help = gettext_lazy("Rechiffre avec la clé actuelle tous les secrets stockés en base (mots de passe SMTP).")

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help=gettext("Base de données (alias Django)."))

    def handle(self, *args, database: str, **options):
        report = secrets_rotate(using=database)
        self.stdout.write(
            gettext(
                "%(rotated)s secret(s) rechiffré(s) depuis une ancienne clé, "
                "%(current)s déjà sous la clé actuelle (réécrit(s)), %(empty)s vide(s)."
            ) % {"rotated": report.rotated, "current": report.current, "empty": report.empty}
        )
        if report.unreadable:
            for secret in report.unreadable:
                self.stderr.write(f"  - {secret.label} : {gettext(UNREADABLE_MESSAGE)}")
            count = len(report.unreadable)
            raise CommandError(
                ngettext(
                    "%(n)d secret illisible avec toutes les clés configurées : laissé tel quel. Remettez "
                    "l'ancienne clé (SECRET_KEY_FALLBACKS ou FIELD_ENCRYPTION_KEYS) et relancez, ou ressaisissez "
                    "ce mot de passe dans Paramétrage → Comptes email.",
                    "%(n)d secrets illisibles avec toutes les clés configurées : laissés tels quels. Remettez "
                    "l'ancienne clé (SECRET_KEY_FALLBACKS ou FIELD_ENCRYPTION_KEYS) et relancez, ou ressaisissez "
                    "ces mots de passe dans Paramétrage → Comptes email.",
                    count,
                ) % {"n": count}
            )
        self.stdout.write(self.style.SUCCESS(
            gettext("Tous les secrets sont lisibles avec la clé actuelle : les anciennes clés peuvent être retirées.")
        ))
