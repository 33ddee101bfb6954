"""`manage.py dispatch [--mailing N]`: send what is due now, in the foreground, and say what
happened (sent, failed, waiting, incertain), like django-post-office's ``send_queued_mail``. For
operators and scripts: the exit code is 1 when an account or the SMS gateway cannot work as
configured (the messages concerned are failed with the reason)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy

from messaging.dispatch import DispatchResult, dispatch_pending
from practice.i18n import PracticeLanguageCommand


class Command(PracticeLanguageCommand):
    help = gettext_lazy(
        "Envoie maintenant, au premier plan, les messages en attente dont l'heure est venue, puis affiche "
        "le bilan (envoyés, en échec, en attente, incertains). Code de sortie 1 en cas d'erreur de configuration."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mailing", type=int, default=None,
                            help=gettext("Seulement les messages de cet envoi (numéro)."))
        parser.add_argument("--batch", type=int, default=None,
                            help=gettext("Messages pris en charge à la fois (défaut : 100)."))

    def handle(self, *args, mailing: int | None, batch: int | None, **options):
        total = DispatchResult()
        kwargs = {"mailing_id": mailing}
        if batch:
            kwargs["limit"] = batch
        while True:
            # In the foreground there is no task timeout: a run stopped by its time box is simply
            # followed by the next one, until nothing due is left.
            result = dispatch_pending(**kwargs)
            for name in ("sent", "failed", "retried", "unknown", "deferred", "cancelled", "recovered", "reconciled"):
                setattr(total, name, getattr(total, name) + getattr(result, name))
            total.paused += [p for p in result.paused if p not in total.paused]
            total.config_errors += [e for e in result.config_errors if e not in total.config_errors]
            if not result.timed_out:
                break
        self.report(total)
        if total.config_errors:
            raise CommandError(gettext("Erreur de configuration : %(errors)s") % {"errors": " | ".join(total.config_errors)})

    def report(self, r: DispatchResult) -> None:
        self.stdout.write(gettext("Envoyés : %(n)s") % {"n": r.sent})
        self.stdout.write(gettext("En échec : %(n)s") % {"n": r.failed})
        self.stdout.write(gettext("En attente : %(n)s (heures de silence, quota, compte en pause, nouvel essai)") % {
            "n": r.deferred + r.retried})
        self.stdout.write(gettext("Incertains : %(n)s") % {"n": r.unknown})
        if r.cancelled:
            self.stdout.write(gettext("Annulés (plus d'actualité) : %(n)s") % {"n": r.cancelled})
        if r.recovered or r.reconciled:
            self.stdout.write(
                gettext("Envoi interrompu rattrapé : %(recovered)s remis en attente, %(reconciled)s devenus incertains")
                % {"recovered": r.recovered, "reconciled": r.reconciled}
            )
        for name in r.paused:
            self.stdout.write(
                gettext("Compte email « %(name)s » injoignable : envoi en pause, nouvel essai automatique.") % {"name": name}
            )
