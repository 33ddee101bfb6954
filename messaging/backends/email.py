"""Email through each practice account's own SMTP server.

``EmailBackend`` is Django's SMTP backend that remembers whether the DATA phase began for the
message in flight: a connection lost before DATA means the server cannot have taken the message
(safe to send again on a new connection); lost during or after DATA, it may have been accepted
and the message becomes "unknown".

``AccountSender`` opens one connection per account for a whole batch (built with Django's
``get_connection`` from the EmailAccount), reconnects when the server drops it, and turns every
failure into a ``SendError`` saying whether to retry. Through this backend it hands each email
to smtplib's ``sendmail`` itself, as Django's backend does, minus the work that is the same for
every email of the batch (``envelope_address``, ``message_bytes``: docs/performance.md, "Dispatch
des emails").
"""

from __future__ import annotations

import io
import re
import smtplib
import socket
import ssl
from email.generator import BytesGenerator
from email.policy import Compat32

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend
from django.core.mail.message import sanitize_address
from django.utils.translation import gettext_noop

from messaging.backends import SendError
from messaging.reasons import Why
from practice.validators import header_text_problem


class _DataPhaseTracking:
    data_started = False

    def mail(self, sender, options=()):
        # MAIL FROM opens each message's transaction (smtplib's sendmail): nothing of this
        # message has reached the server yet.
        self.data_started = False
        return super().mail(sender, options)

    def data(self, msg):
        # From the DATA command on, the server may end up queueing the message even if we never
        # read its answer: any failure from here is ambiguous.
        self.data_started = True
        return super().data(msg)


class _TrackingSMTP(_DataPhaseTracking, smtplib.SMTP):
    pass


class _TrackingSMTP_SSL(_DataPhaseTracking, smtplib.SMTP_SSL):
    pass


class EmailBackend(DjangoSmtpBackend):
    """Django's SMTP backend, plus ``data_started`` on the live connection (see module doc)."""

    @property
    def connection_class(self):
        return _TrackingSMTP_SSL if self.use_ssl else _TrackingSMTP


# A dot-atom local part and an ASCII host name: the addresses Django's ``sanitize_address`` gives
# back unchanged (no display name, comment, quoted string, encoded word, IDN or non-ASCII part;
# host labels of 1 to 63 characters, which the IDNA codec accepts as they are).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]{{1,63}}(?:\.[A-Za-z0-9-]{{1,63}})*")


def envelope_address(address, encoding: str) -> str:
    """What Django's SMTP backend gives smtplib for ``address`` (``sanitize_address``), without
    parsing an address that is already plain (a patient's ``local@domain``: parsing it cost
    about 40 µs an email). Raises ValueError for an address Django refuses."""
    if isinstance(address, str) and "=?" not in address and _PLAIN_ADDRESS.fullmatch(address):
        return address
    return sanitize_address(address, encoding)


class _SmtpPolicy(Compat32):
    """The standard library's ``compat32`` policy, which Django's messages carry, with CRLF line
    ends, whose ``fold_binary`` (the public hook of ``email.policy`` through which a generator
    writes each header) writes at once a header that needs neither folding nor encoding:
    printable ASCII without surrounding spaces, shorter than the line limit. ``compat32`` gives
    such a header back as it is too, after cutting it into words with ``email.header.Header``
    (half the cost of turning an email into bytes). Every other header goes through
    ``compat32``'s own folding."""

    def fold_binary(self, name, value):
        if (type(value) is str and value and value.isascii() and value.isprintable() and value == value.strip()
                and self.max_line_length and len(name) + 2 + len(value) <= self.max_line_length):
            return f"{name}: {value}{self.linesep}".encode("ascii", "surrogateescape")
        return super().fold_binary(name, value)


SMTP_POLICY = _SmtpPolicy(linesep="\r\n")


def message_bytes(message) -> bytes:
    """``message`` (an ``email.message.Message``, as Django's ``EmailMessage.message()`` builds
    it) as the bytes smtplib sends: what Django's ``message.as_bytes(linesep="\\r\\n")`` gives
    (tests/messaging/test_smtp_envelope.py), written with ``SMTP_POLICY``."""
    fp = io.BytesIO()
    BytesGenerator(fp, mangle_from_=False, policy=SMTP_POLICY).flatten(message)
    return fp.getvalue()


# Resolver answers meaning "this name does not exist", as opposed to EAI_AGAIN (the resolver
# could not answer now: transient).
_NO_SUCH_HOST = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY") if hasattr(socket, n)}


def _is_configuration_error(exc: BaseException) -> bool:
    if isinstance(exc, socket.gaierror):
        return exc.errno in _NO_SUCH_HOST
    # A TLS handshake that fails (SSL/TLS mode on a plain port, an unknown certificate) and a
    # server that does not offer STARTTLS or AUTH: the same answer every time.
    return isinstance(exc, (ssl.SSLError, smtplib.SMTPNotSupportedError))


def _smtp_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value or "")


def _shown(value: str) -> str:
    """``value`` for a reason shown to staff, its control characters made visible."""
    shown = "".join(
        {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}" if header_text_problem(c) else c)
        for c in value[:80]
    )
    return shown + ("…" if len(value) > 80 else "")


def check_header_values(email: EmailMessage, *, account=None) -> None:
    """Refuse an email whose header values hold a line break or a control character.

    Forms and models refuse them (practice.validators.validate_header_text), but rows stored
    before that, or written directly, may still hold one: Django would raise BadHeaderError in
    the middle of a batch (or, for a non-ASCII display name already MIME-encoded in the From
    header, let the line break through). Raises ``SendError(permanent=True, code="header")``
    naming the field, so that only this message fails, with its reason.
    """
    values: list[tuple[Why, str]] = []
    if account is not None:
        values.append((Why(gettext_noop("le nom affiché à l'envoi du compte email « %(account)s »"), account=account.name),
                       account.display_name or ""))
        values.append((Why(gettext_noop("l'adresse du compte email « %(account)s »"), account=account.name),
                       account.email or ""))
    values += [(Why(gettext_noop("l'objet")), email.subject or ""),
               (Why(gettext_noop("l'expéditeur")), email.from_email or "")]
    values += [(Why(gettext_noop("l'adresse du destinataire")), a) for a in (*email.to, *email.cc, *email.bcc)]
    values += [(Why(gettext_noop("l'adresse de réponse")), a) for a in email.reply_to]
    values += [(Why(gettext_noop("l'en-tête %(name)s"), name=name), str(v)) for name, v in email.extra_headers.items()]
    for what, value in values:
        if header_text_problem(str(value)):
            hint = Why(
                gettext_noop("Corrigez-le dans Paramétrage → Comptes email, puis renvoyez le message.")
                if "account" in what.params else
                gettext_noop("Corrigez la donnée en cause, puis renvoyez le message.")
            )
            raise SendError(
                Why(gettext_noop("Email non envoyé : %(what)s contient un retour à la ligne ou un caractère de "
                                 "contrôle (« %(value)s »), interdit dans un en-tête d'email. %(hint)s"),
                    what=what, value=_shown(str(value)), hint=hint),
                permanent=True,
                code="header",
            )


class AccountSender:
    """Sends a batch of messages through one EmailAccount: ``send(email)`` returns the
    Message-ID or raises SendError; ``close()`` when the batch is over."""

    def __init__(self, account, *, backend: str | None = None):
        from messaging.models import SmtpSecurity, UnreadablePassword

        self.account = account
        self._open_error: SendError | None = None
        try:
            password = account.smtp_password
        except UnreadablePassword as exc:
            # Every message of this account fails with the reason, without a connection: logging
            # in without the password (or with a wrong one) would only hide the cause.
            password = ""
            self._open_error = SendError(str(exc), permanent=True, code="smtp-password")
        self.connection = get_connection(
            backend=backend or settings.MESSAGING_EMAIL_BACKEND,
            host=account.smtp_host,
            port=account.smtp_port,
            username=account.username,
            password=password,
            use_tls=account.security == SmtpSecurity.STARTTLS,
            use_ssl=account.security == SmtpSecurity.SSL,
            timeout=account.timeout,
            fail_silently=False,
        )
        self._open = False
        self.connections_opened = 0
        # The envelope sender of each From and encoding: the same for every email of the account.
        self._senders: dict[tuple, str] = {}

    # -- connection -------------------------------------------------------------------------
    def open(self) -> None:
        """Connect (once; a no-op while connected). Raises SendError: permanent for settings that
        cannot work (authentication refused, wrong security mode, unknown host), transient with
        code "smtp-connect" for a server that cannot be reached now. A failure is remembered: the
        same sender does not try again."""
        self._ensure_open()

    def _ensure_open(self) -> None:
        if self._open_error is not None:
            raise self._open_error
        if self._open:
            return
        try:
            self.connection.open()
        except smtplib.SMTPAuthenticationError as exc:
            self._open_error = SendError(
                Why(gettext_noop("Le serveur d'envoi a refusé l'identifiant ou le mot de passe du compte « %(account)s » "
                                 "(%(code)s). %(check)s"),
                    account=self.account.name, code=exc.smtp_code, check=self._check_settings()),
                permanent=True,
                code=f"smtp-{exc.smtp_code}",
            )
        except smtplib.SMTPResponseException as exc:
            permanent = exc.smtp_code >= 500
            refused = dict(account=self.account.name, code=exc.smtp_code, text=_smtp_text(exc.smtp_error))
            self._open_error = SendError(
                Why(gettext_noop("Le serveur d'envoi du compte « %(account)s » a refusé la connexion (%(code)s %(text)s). "
                                 "%(check)s"), check=self._check_settings(), **refused)
                if permanent else
                Why(gettext_noop("Le serveur d'envoi du compte « %(account)s » a refusé la connexion "
                                 "(%(code)s %(text)s)."), **refused),
                permanent=permanent,
                code=f"smtp-{exc.smtp_code}",
            )
        except (ssl.SSLError, smtplib.SMTPNotSupportedError, socket.gaierror) as exc:
            if _is_configuration_error(exc):
                self._open_error = self._configuration_error(exc)
            else:
                self._open_error = self._unreachable(exc)
        except (OSError, smtplib.SMTPException) as exc:
            self._open_error = self._unreachable(exc)
        if self._open_error is not None:
            raise self._open_error
        self._open = True
        self.connections_opened += 1

    def _unreachable(self, exc: BaseException) -> SendError:
        return SendError(
            Why(gettext_noop("Serveur d'envoi du compte « %(account)s » injoignable (%(host)s:%(port)s) : %(error)s. "
                             "Nouvel essai plus tard."),
                account=self.account.name, host=self.account.smtp_host, port=self.account.smtp_port, error=str(exc)),
            permanent=False,
            code="smtp-connect",
        )

    def _check_settings(self) -> Why:
        return Why(gettext_noop("Message non envoyé : vérifiez les réglages du compte email « %(account)s » "
                                "(Paramétrage → Comptes email, bouton Tester), puis renvoyez-le."),
                   account=self.account.name)

    def _configuration_error(self, exc: BaseException) -> SendError:
        """The account's settings cannot work (wrong security mode for the port, STARTTLS or
        AUTH not offered, a host name that does not exist): retrying would fail the same way
        for hours, so the message fails at once, with the account test's explanation."""
        from messaging.services import smtp_error_explain  # the account test says the same

        # The account test's explanation is kept as it was written; the advice around it is translated.
        return SendError(Why(gettext_noop("%(explanation)s %(check)s"), explanation=str(smtp_error_explain(exc, self.account)),
                             check=self._check_settings()), permanent=True, code="smtp-config")

    def _drop(self) -> None:
        """Forget a connection that is broken or in an unknown state."""
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - the socket is already gone; nothing to save.
            smtp = getattr(self.connection, "connection", None)
            if smtp is not None:
                smtp.close()
            self.connection.connection = None
        self._open = False

    def close(self) -> None:
        if self._open:
            self._drop()

    # -- sending ----------------------------------------------------------------------------
    def send(self, email: EmailMessage, *, checked: bool = False) -> str:
        """Hand ``email`` to the server. Returns its Message-ID header. ``checked``: the caller
        has run ``check_header_values`` on it already (dispatch builds every email with it).

        Raises SendError: permanent (a header value with a line break, see check_header_values;
        address or sender refused with a 5xx, authentication),
        transient (4xx, server unreachable, connection lost twice before DATA), or ambiguous
        (connection lost once the DATA phase began).
        """
        if not checked:
            check_header_values(email, account=self.account)
        message_id = email.extra_headers.get("Message-ID", "")
        for attempt in (1, 2):
            self._ensure_open()
            try:
                self._transmit(email)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()), (550, b""))
                raise SendError(
                    Why(gettext_noop("Adresse refusée par le serveur de messagerie (%(code)s %(text)s)."),
                        code=code, text=_smtp_text(text)),
                    permanent=code >= 500,
                    code=f"smtp-{code}",
                ) from exc
            except smtplib.SMTPSenderRefused as exc:
                if exc.smtp_code == 421:
                    self._drop()
                raise SendError(
                    Why(gettext_noop("Le serveur a refusé l'expéditeur %(sender)s (%(code)s %(text)s)."),
                        sender=str(exc.sender), code=exc.smtp_code, text=_smtp_text(exc.smtp_error)),
                    permanent=exc.smtp_code >= 500,
                    code=f"smtp-{exc.smtp_code}",
                ) from exc
            except smtplib.SMTPDataError as exc:
                # The server answered: it explicitly did not take the message.
                raise SendError(
                    Why(gettext_noop("Le serveur a refusé le message (%(code)s %(text)s)."),
                        code=exc.smtp_code, text=_smtp_text(exc.smtp_error)),
                    permanent=exc.smtp_code >= 500,
                    code=f"smtp-{exc.smtp_code}",
                ) from exc
            except smtplib.SMTPResponseException as exc:  # other answers (SMTPException is an OSError)
                raise SendError(
                    Why(gettext_noop("Le serveur d'envoi a répondu %(code)s %(text)s."),
                        code=exc.smtp_code, text=_smtp_text(exc.smtp_error)),
                    permanent=exc.smtp_code >= 500,
                    code=f"smtp-{exc.smtp_code}",
                ) from exc
            except ValueError as exc:
                # BadHeaderError, or an address Django cannot sanitize: raised while the email is
                # built, before anything is written to the server (the connection stays usable).
                raise SendError(
                    Why(gettext_noop("Email non envoyé : un en-tête ou une adresse est invalide (%(error)s)."),
                        error=str(exc)), permanent=True, code="header"
                ) from exc
            except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
                smtp = getattr(self.connection, "connection", None)
                data_started = bool(getattr(smtp, "data_started", False))
                self._drop()
                if data_started:
                    raise SendError(
                        Why(gettext_noop("La connexion au serveur d'envoi a été coupée pendant la transmission : "
                                         "l'email est peut-être parti. Vérifiez avant de renvoyer.")),
                        permanent=False,
                        code="smtp-dropped",
                        ambiguous=True,
                    ) from exc
                if attempt == 2:
                    raise SendError(
                        Why(gettext_noop("La connexion au serveur d'envoi a été coupée avant l'envoi : nouvel essai "
                                         "plus tard.")),
                        permanent=False,
                        code="smtp-dropped",
                    ) from exc
                # Dropped before DATA: the server has nothing; reconnect and send it now.
                continue
            return message_id
        raise AssertionError("unreachable")

    def _transmit(self, email: EmailMessage) -> None:
        """Hand ``email`` to the open connection: what Django's SMTP backend does for one message
        (``sanitize_address`` of the sender and the recipients, ``message()``, smtplib's
        ``sendmail`` with its bytes, the same exceptions), the sender's envelope address
        computed once per account (``envelope_address``, ``message_bytes``). Other backends
        (locmem in tests, console) get it through their ``send_messages``."""
        backend = self.connection
        smtp = getattr(backend, "connection", None)
        recipients = email.recipients()
        if not isinstance(backend, EmailBackend) or smtp is None or not recipients:
            backend.send_messages([email])
            return
        encoding = email.encoding or settings.DEFAULT_CHARSET
        key = (email.from_email, encoding)
        from_addr = self._senders.get(key)
        if from_addr is None:
            from_addr = self._senders[key] = sanitize_address(email.from_email, encoding)
        to_addrs = [envelope_address(address, encoding) for address in recipients]
        smtp.sendmail(from_addr, to_addrs, message_bytes(email.message()))
