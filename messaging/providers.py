"""Outgoing-mail (SMTP) settings of the providers French practices use most.

The table comes from the reference product's guide (seed "module mail"); two rows are updated
where the provider has since moved its servers: Hotmail/Outlook (Microsoft retired
smtp.live.com for smtp-mail.outlook.com, STARTTLS on 587) and 1&1, now IONOS (smtp.ionos.fr,
STARTTLS on 587). The account form offers these rows to pre-fill host, port and security; the
user can still change every value.

Gmail and Outlook / Hotmail no longer take the account's usual password from a mail program: they
want an "application password" created in the account's security settings (with two-step
verification on). ``Provider.app_password`` says so, and where; the account form shows it, and the
Tester's diagnosis repeats it when such a server refuses the login. A Google application password
is 16 letters (shown by Google in four groups of four): the form refuses anything else for Gmail.

The labels and explanations are lazy translations: shown (and serialised for the form's script)
in the staff member's language.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from django.utils.translation import gettext, gettext_lazy

from .models import SmtpSecurity


@dataclass(frozen=True)
class Provider:
    key: str
    label: str  # str or a lazy translation
    domains: tuple[str, ...]
    host: str
    port: int
    security: str
    auth: bool
    # Why and where to create an application password, for providers that refuse the usual one.
    app_password: str = ""
    # Other SMTP host names of the same provider (the Tester recognises an account by its host).
    other_hosts: tuple[str, ...] = ()


PROVIDERS: tuple[Provider, ...] = (
    Provider("orange", "Orange / Wanadoo", ("orange.fr", "wanadoo.fr"), "smtp.orange.fr", 465, SmtpSecurity.SSL, True),
    Provider("sfr", gettext_lazy("SFR (et Neuf, Cegetel, Club Internet)"), ("sfr.fr", "neuf.fr", "cegetel.fr", "club-internet.fr"),
             "smtp.sfr.fr", 587, SmtpSecurity.NONE, True),
    Provider("free", "Free", ("free.fr",), "smtp.free.fr", 465, SmtpSecurity.SSL, True),
    Provider("bouygues", "Bouygues Telecom", ("bbox.fr",), "smtp.bouygtel.fr", 25, SmtpSecurity.NONE, False),
    Provider("ovh", "OVH", (), "ssl0.ovh.net", 465, SmtpSecurity.SSL, True),
    Provider("laposte", "La Poste", ("laposte.net",), "smtp.laposte.net", 465, SmtpSecurity.SSL, True),
    Provider("gmail", "Gmail", ("gmail.com", "googlemail.com"), "smtp.gmail.com", 465, SmtpSecurity.SSL, True,
             app_password=gettext_lazy(
                 "Gmail n'accepte pas le mot de passe habituel du compte Google : il faut un « mot de passe "
                 "d'application ». Activez la validation en deux étapes du compte, puis créez-le dans "
                 "myaccount.google.com › Sécurité › Validation en deux étapes › Mots de passe des "
                 "applications (adresse directe : myaccount.google.com/apppasswords) et saisissez ici ses "
                 "16 lettres."
             )),
    Provider("yahoo", "Yahoo!", ("yahoo.fr", "yahoo.com"), "smtp.mail.yahoo.fr", 465, SmtpSecurity.SSL, True),
    Provider("outlook", "Hotmail / Outlook / Live", ("hotmail.com", "hotmail.fr", "live.com", "live.fr", "msn.com",
                                                     "outlook.com", "outlook.fr"),
             "smtp-mail.outlook.com", 587, SmtpSecurity.STARTTLS, True,
             app_password=gettext_lazy(
                 "Outlook / Hotmail n'accepte pas le mot de passe habituel du compte Microsoft : il faut un "
                 "« mot de passe d'application ». Activez la vérification en deux étapes du compte, puis "
                 "créez-le dans account.microsoft.com › Sécurité › Options de sécurité avancées › Mots de "
                 "passe d'application, et saisissez-le ici."
             ),
             other_hosts=("smtp.live.com", "smtp.office365.com")),
    Provider("aol", "AOL", ("aol.com",), "smtp.aol.com", 465, SmtpSecurity.SSL, True),
    Provider("ionos", gettext_lazy("IONOS (ex 1&1)"), ("ionos.fr", "1and1.fr"), "smtp.ionos.fr", 587, SmtpSecurity.STARTTLS, True),
    Provider("bluewin", "Bluewin", ("bluewin.ch",), "smtpauths.bluewin.ch", 465, SmtpSecurity.SSL, True),
    Provider("gmx", "GMX / Caramail", ("gmx.fr", "gmx.com", "caramail.fr", "caramail.com"), "mail.gmx.com", 25,
             SmtpSecurity.NONE, True),
    Provider("skynet", "Skynet – Proximus", ("skynet.be",), "relay.proximus.be", 587, SmtpSecurity.SSL, True),
    Provider("numericable", "Numéricable", ("numericable.fr",), "smtp.numericable.fr", 587, SmtpSecurity.STARTTLS,
             True),
)

PROVIDERS_BY_KEY = {p.key: p for p in PROVIDERS}


def provider_choices() -> list[tuple[str, str]]:
    return [("", gettext_lazy("— Autre fournisseur / saisie manuelle —"))] + [(p.key, p.label) for p in PROVIDERS]


def providers_json() -> dict[str, dict]:
    """What the account form's script needs to pre-fill the fields, keyed by provider (the texts
    in the active language: called while the page is rendered for the staff member)."""
    return {
        p.key: {**asdict(p), "label": str(p.label), "app_password": str(p.app_password),
                "security": str(p.security), "domains": list(p.domains)}
        for p in PROVIDERS
    }


def provider_for_host(host: str) -> Provider | None:
    """The provider whose SMTP server ``host`` is, if it is in the table."""
    host = (host or "").strip().lower().rstrip(".")
    for provider in PROVIDERS:
        if host and (host == provider.host or host in provider.other_hosts):
            return provider
    return None


# A Google application password: 16 lowercase letters, shown by Google as "abcd efgh ijkl mnop".
GOOGLE_APP_PASSWORD_RE = re.compile(r"[a-z]{16}")


def app_password_error(host: str, password: str) -> tuple[str, str]:
    """(the password to store, "") when ``password`` can be the one ``host`` wants, else
    (password, the reason in the active language). For Gmail, the spaces Google shows are removed and anything
    but 16 letters is refused: it cannot be an application password."""
    provider = provider_for_host(host)
    if provider is None or provider.key != "gmail" or not password:
        return password, ""
    compact = "".join(password.split())
    if GOOGLE_APP_PASSWORD_RE.fullmatch(compact):
        return compact, ""
    return password, gettext(
        "Ce n'est pas un mot de passe d'application Google (16 lettres, affichées par Google en quatre "
        "groupes de quatre) : le mot de passe habituel du compte est refusé par Gmail. Créez-en un dans "
        "myaccount.google.com/apppasswords (validation en deux étapes activée)."
    )


def provider_for_address(address: str) -> Provider | None:
    """The provider whose mail domain ``address`` uses, if it is in the table."""
    domain = address.rpartition("@")[2].strip().lower()
    for provider in PROVIDERS:
        if domain and domain in provider.domains:
            return provider
    return None
