"""Outgoing-mail (SMTP) settings of the providers French practices use most.

The table comes from the reference product's guide (seed "module mail"); two rows are updated
where the provider has since moved its servers: Hotmail/Outlook (Microsoft retired
smtp.live.com for smtp-mail.outlook.com, STARTTLS on 587) and 1&1, now IONOS (smtp.ionos.fr,
STARTTLS on 587). The account form offers these rows to pre-fill host, port and security; the
user can still change every value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .models import SmtpSecurity


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    domains: tuple[str, ...]
    host: str
    port: int
    security: str
    auth: bool


PROVIDERS: tuple[Provider, ...] = (
    Provider("orange", "Orange / Wanadoo", ("orange.fr", "wanadoo.fr"), "smtp.orange.fr", 465, SmtpSecurity.SSL, True),
    Provider("sfr", "SFR (et Neuf, Cegetel, Club Internet)", ("sfr.fr", "neuf.fr", "cegetel.fr", "club-internet.fr"),
             "smtp.sfr.fr", 587, SmtpSecurity.NONE, True),
    Provider("free", "Free", ("free.fr",), "smtp.free.fr", 465, SmtpSecurity.SSL, True),
    Provider("bouygues", "Bouygues Telecom", ("bbox.fr",), "smtp.bouygtel.fr", 25, SmtpSecurity.NONE, False),
    Provider("ovh", "OVH", (), "ssl0.ovh.net", 465, SmtpSecurity.SSL, True),
    Provider("laposte", "La Poste", ("laposte.net",), "smtp.laposte.net", 465, SmtpSecurity.SSL, True),
    Provider("gmail", "Gmail", ("gmail.com",), "smtp.gmail.com", 465, SmtpSecurity.SSL, True),
    Provider("yahoo", "Yahoo!", ("yahoo.fr", "yahoo.com"), "smtp.mail.yahoo.fr", 465, SmtpSecurity.SSL, True),
    Provider("outlook", "Hotmail / Outlook / Live", ("hotmail.com", "hotmail.fr", "live.com", "live.fr", "msn.com",
                                                     "outlook.com", "outlook.fr"),
             "smtp-mail.outlook.com", 587, SmtpSecurity.STARTTLS, True),
    Provider("aol", "AOL", ("aol.com",), "smtp.aol.com", 465, SmtpSecurity.SSL, True),
    Provider("ionos", "IONOS (ex 1&1)", ("ionos.fr", "1and1.fr"), "smtp.ionos.fr", 587, SmtpSecurity.STARTTLS, True),
    Provider("bluewin", "Bluewin", ("bluewin.ch",), "smtpauths.bluewin.ch", 465, SmtpSecurity.SSL, True),
    Provider("gmx", "GMX / Caramail", ("gmx.fr", "gmx.com", "caramail.fr", "caramail.com"), "mail.gmx.com", 25,
             SmtpSecurity.NONE, True),
    Provider("skynet", "Skynet – Proximus", ("skynet.be",), "relay.proximus.be", 587, SmtpSecurity.SSL, True),
    Provider("numericable", "Numéricable", ("numericable.fr",), "smtp.numericable.fr", 587, SmtpSecurity.STARTTLS,
             True),
)

PROVIDERS_BY_KEY = {p.key: p for p in PROVIDERS}


def provider_choices() -> list[tuple[str, str]]:
    return [("", "— Autre fournisseur / saisie manuelle —")] + [(p.key, p.label) for p in PROVIDERS]


def providers_json() -> dict[str, dict]:
    """What the account form's script needs to pre-fill the fields, keyed by provider."""
    return {p.key: {**asdict(p), "security": str(p.security), "domains": list(p.domains)} for p in PROVIDERS}


def provider_for_address(address: str) -> Provider | None:
    """The provider whose mail domain ``address`` uses, if it is in the table."""
    domain = address.rpartition("@")[2].strip().lower()
    for provider in PROVIDERS:
        if domain and domain in provider.domains:
            return provider
    return None
