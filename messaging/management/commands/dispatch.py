"""`manage.py dispatch [--mailing N]`: send what is due now, in the foreground, and say what
happened (sent, failed, waiting, incertain), like django-post-office's ``send_queued_mail``. For
operators and scripts: the exit code is 1 when an account or the SMS gateway cannot work as
configured (the messages concerned are failed with the reason)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messaging.dispatch import DispatchResult, dispatch_pending


class Command(BaseCommand):
    help = (
        "Envoie maintenant, au premier plan, les messages en attente dont l'heure est venue, puis affiche "
        "le bilan (envoyés, en échec, en attente, incertains). Code de sortie 1 en cas d'erreur de configuration."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mailing", type=int, default=None, help="Seulement les messages de cet envoi (numéro).")
        parser.add_argument("--batch", type=int, default=None, help="Messages pris en charge à la fois (défaut : 100).")

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
            raise CommandError("Erreur de configuration : " + " | ".join(total.config_errors))

    def report(self, r: DispatchResult) -> None:
        self.stdout.write(f"Envoyés : {r.sent}")
        self.stdout.write(f"En échec : {r.failed}")
        self.stdout.write(f"En attente : {r.deferred + r.retried} (heures de silence, quota, compte en pause, nouvel essai)")
        self.stdout.write(f"Incertains : {r.unknown}")
        if r.cancelled:
            self.stdout.write(f"Annulés (plus d'actualité) : {r.cancelled}")
        if r.recovered or r.reconciled:
            self.stdout.write(
                f"Envoi interrompu rattrapé : {r.recovered} remis en attente, {r.reconciled} devenus incertains"
            )
        for name in r.paused:
            self.stdout.write(f"Compte email « {name} » injoignable : envoi en pause, nouvel essai automatique.")
