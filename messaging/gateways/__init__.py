"""SMS gateways, chosen by ``settings.SMS_BACKEND`` like Django's ``EMAIL_BACKEND``.

Each gateway is one folder here whose package exposes ``SmsBackend`` (see ``base.py``):
``twilio`` and ``ovh`` (production), ``sandbox`` (demo inbox in the database), ``locmem``
(tests) and ``console``. ``SMS_BACKEND`` takes the folder's name (``"ovh"``) or a dotted path to
a backend class; adding a gateway is adding a folder.
"""

from __future__ import annotations

import re
from importlib import import_module

from django.conf import settings
from django.utils.module_loading import import_string

from .base import BaseSmsBackend, DeliveryEvent, InboundEvent, SendError, SmsMessage

__all__ = [
    "BaseSmsBackend", "DeliveryEvent", "InboundEvent", "SendError", "SmsMessage", "backend_class",
    "gateway_class", "get_sms_backend",
]

# Dotted paths of the backends before they became folders: .env files already deployed name them.
LEGACY_PATHS = {
    f"messaging.backends.sms.{name}.SmsBackend": name for name in ("twilio", "sandbox", "locmem", "console")
}
_SHORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def gateway_class(name: str) -> type[BaseSmsBackend] | None:
    """The backend class of the gateway folder ``name`` (a short name such as ``"twilio"``), or
    None when there is no such folder."""
    if not _SHORT_NAME.match(name or "") or name == "base":
        return None
    try:
        module = import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise
    backend = getattr(module, "SmsBackend", None)
    return backend if isinstance(backend, type) and issubclass(backend, BaseSmsBackend) else None


def backend_class(backend: str | None = None) -> type[BaseSmsBackend]:
    """The class named by ``backend`` (short name or dotted path), by default SMS_BACKEND.
    Raises ImportError when it names nothing."""
    name = (backend or settings.SMS_BACKEND or "").strip()
    name = LEGACY_PATHS.get(name, name)
    if "." not in name:
        cls = gateway_class(name)
        if cls is None:
            raise ImportError(f"Passerelle SMS inconnue : {name!r}.")
        return cls
    return import_string(name)


def get_sms_backend(backend: str | None = None, **kwargs) -> BaseSmsBackend:
    """An instance of ``backend`` (short name or dotted path) or of ``settings.SMS_BACKEND``."""
    return backend_class(backend)(**kwargs)


def configured_name() -> str:
    """The short name of the configured gateway ("" for a class outside the gateway folders)."""
    try:
        return backend_class().name
    except ImportError:
        return ""
