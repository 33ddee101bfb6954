"""The demo's mail server: an SMTP server on loopback that accepts everything and stores it in
the database (SandboxEmail), shown on the demo inbox page. Started by `make run`."""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import threading

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from practice.i18n import PracticeLanguageCommand


def store_message(*, mail_from: str, rcpt_tos: list[str], data: bytes):
    """Parse one received message and save it as a SandboxEmail; returns it."""
    from messaging.models import SandboxEmail

    parsed = email.message_from_bytes(data, policy=email.policy.default)
    text = html = ""
    attachments: list[str] = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            attachments.append(filename or "piece-jointe")
        elif part.get_content_type() == "text/plain" and not text:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and not html:
            html = part.get_content()
    headers = {k: str(v) for k, v in parsed.items() if k.lower() in {"message-id", "reply-to", "disposition-notification-to", "date"}}
    return SandboxEmail.objects.create(
        mail_from=mail_from[:254],
        to=", ".join(rcpt_tos)[:1000],
        subject=" ".join(str(parsed.get("Subject", "")).split())[:500],
        text=text,
        html=html,
        attachments=attachments,
        headers=headers,
        raw=data.decode("utf-8", "replace"),
    )


def _store_and_release(envelope) -> None:
    from django.db import connections

    try:
        store_message(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), data=envelope.original_content)
    finally:
        # Executor threads are reused and never finish a request: give the connection back.
        connections.close_all()


class StoringHandler:
    async def handle_DATA(self, server, session, envelope):
        # The ORM is synchronous: run it outside the event loop.
        await asyncio.get_running_loop().run_in_executor(None, _store_and_release, envelope)
        return "250 Message accepted for delivery"


class Command(PracticeLanguageCommand):
    help = gettext_lazy("Serveur SMTP local de démonstration : enregistre les emails reçus (boîte de démonstration).")

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.DEMO_SMTP_PORT)

    def handle(self, *args, host: str, port: int, **options):
        from aiosmtpd.controller import Controller

        controller = Controller(StoringHandler(), hostname=host, port=port)
        controller.start()
        self.stdout.write(gettext("Serveur SMTP de démonstration à l'écoute sur %(host)s:%(port)s") % {
            "host": host, "port": port})
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        finally:
            controller.stop()
