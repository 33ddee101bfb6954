"""Start the demo: the web app and the django-q2 cluster together; Ctrl-C stops both.

Used by `make run`. Each part is a child process; if one of them dies, the others are stopped too
so that the demo never runs half-way (a web app without its scheduler would silently never send).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from django.contrib.auth import get_user_model
from django.utils.translation import gettext, gettext_lazy

from practice.demo import DEMO_PASSWORD, demo_children
from practice.i18n import PracticeLanguageCommand
from practice.roles import role_label


class Command(PracticeLanguageCommand):
    help = gettext_lazy("Démarre l'application web et le programmeur (django-q2) de la démo ; Ctrl-C arrête tout.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port: int, host: str, **options):
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.stdout.write(self.style.SUCCESS("\n" + gettext("Démo prête : %(url)s") % {"url": f"http://{host}:{port}/"}))
        self.stdout.write(gettext("Comptes de démonstration (mot de passe commun : %(password)s) :") % {
            "password": DEMO_PASSWORD})
        for user in users:
            roles = ", ".join(role_label(g.name) for g in user.groups.all()) or (
                gettext("superutilisateur") if user.is_superuser else "")
            self.stdout.write(f"  - {user.username:<12} {roles}")
        self.stdout.write(gettext("Ctrl-C pour arrêter.") + "\n")

        # Started in the background by a shell (`make run &`, nohup, CI), this process inherits an
        # *ignored* SIGINT, and so would the children: runserver would then ignore the forwarded
        # Ctrl-C and only die at the kill deadline. Children get the default disposition.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        children: list[tuple[str, subprocess.Popen]] = []
        for name, argv in demo_children(host=host, port=port):
            children.append((name, subprocess.Popen([sys.executable, *argv])))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, proc in children:
                    if proc.poll() is not None:
                        self.stderr.write(gettext("%(name)s s'est arrêté (code %(code)s) : arrêt de la démo.") % {
                            "name": name, "code": proc.returncode})
                        exit_code = proc.returncode or 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for _, proc in children:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 15
            for _, proc in children:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        if exit_code:
            sys.exit(exit_code)
