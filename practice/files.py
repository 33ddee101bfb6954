"""Stored files (patient images, treatment-run documents, email-type files, kept attachments,
files attached once from the send window)
served only to signed-in staff allowed to see what owns them.

Nothing under ``MEDIA_ROOT`` is published as such: ``MEDIA_URL`` points at :func:`stored_file`,
which finds the record that owns the requested name, checks the permission that shows that
record on its page, and answers with the bytes (or, in production, with an ``X-Accel-Redirect`` /
``X-Sendfile`` header that lets the web server send them; see docs/deployment.md). A name that no
record owns is a 404, whatever lies on disk.

Every answer is a download (``Content-Disposition: attachment``) with ``nosniff``; only the raster
image types a browser cannot run (JPEG, PNG, GIF, WebP) may be shown inline, for the patient's
album. HTML, SVG, XML and scripts are always sent as ``application/octet-stream``.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

# Images a browser only draws: safe to show inline.
INLINE_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
# Types downloaded under their own name and type (the desktop opens them with the right program);
# anything else (HTML, SVG, XML, JavaScript, unknown) is sent as opaque bytes.
PASSIVE_TYPES = INLINE_IMAGE_TYPES | {
    "application/pdf",
    "image/bmp",
    "image/tiff",
    "text/plain",
    "text/csv",
    "application/rtf",
    "text/rtf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/zip",
}
SENDFILE_MODES = ("", "nginx", "apache")
# The permission of the patient history, where kept attachments are listed.
SEND_MESSAGES = "practice.send_messages"

_LETTERS = re.compile(r"^programmeur/(?P<treatment>\d+)/(?P<day>\d{4}-\d{2}-\d{2})/courriers\.pdf$")
_KEPT = re.compile(r"^historique/(?P<message>\d+)/[^/]+$")


@dataclass(frozen=True)
class Owner:
    """A record that owns a stored file: who may read it, and whether it may show inline."""

    perm: str
    inline_image: bool = False


def file_owners(name: str) -> list[Owner]:
    """Every record that owns the stored file ``name`` (a storage name, relative to MEDIA_ROOT).

    Empty when nothing owns it: such a file is never served."""
    from messaging.models import ExternalFile, Message
    from patients.models import PatientImage
    from scheduler.models import TreatmentRun

    owners: list[Owner] = []
    if PatientImage.objects.filter(file=name).exists():
        owners.append(Owner("patients.view_patientimage", inline_image=True))
    if TreatmentRun.objects.filter(document=name).exists():
        owners.append(Owner("practice.use_scheduler"))
    if match := _LETTERS.match(name):
        if TreatmentRun.objects.filter(treatment_id=match["treatment"], run_date=match["day"]).exists():
            owners.append(Owner("practice.use_scheduler"))
    if ExternalFile.objects.filter(file=name).exists():
        owners.append(Owner("messaging.view_externalfile"))
    from messaging.attachments import upload_visible

    if upload_visible(name):  # a file attached once from the send window
        owners.append(Owner(SEND_MESSAGES))
    if match := _KEPT.match(name):
        # A message deleted from the history (hidden) no longer shows its attachments anywhere.
        message = Message.objects.filter(pk=match["message"], hidden=False).only("attachments").first()
        if message and any(a.get("kept") and a.get("path") == name for a in message.attachments or []):
            owners.append(Owner(SEND_MESSAGES))
    return owners



def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def sendfile_mode() -> str:
    mode = getattr(settings, "MEDIA_SENDFILE", "")
    if mode not in SENDFILE_MODES:
        raise ImproperlyConfigured(f"MEDIA_SENDFILE={mode!r}: choisir parmi '', 'nginx', 'apache'.")
    return mode


def file_response(name: str, *, filename: str | None = None, inline_image: bool = False, storage=None) -> HttpResponse:
    """The answer that hands the stored file ``name`` to the browser.

    A download unless ``inline_image`` and the file is a raster image; ``nosniff`` and a private,
    non-stored cache always. With ``MEDIA_SENDFILE`` set, the body is left to the web server
    (``X-Accel-Redirect`` under ``MEDIA_SENDFILE_PREFIX`` for nginx, ``X-Sendfile`` with the
    absolute path for Apache). Raises Http404 when the file is missing."""
    storage = storage or default_storage
    if not _safe_name(name) or not storage.exists(name):
        raise Http404("Ce fichier est introuvable.")
    filename = filename or name.rsplit("/", 1)[-1]
    guessed = mimetypes.guess_type(filename)[0] or ""
    inline = inline_image and guessed in INLINE_IMAGE_TYPES
    content_type = guessed if guessed in PASSIVE_TYPES else "application/octet-stream"
    mode = sendfile_mode()
    if mode == "nginx":
        response = HttpResponse(content_type=content_type)
        prefix = settings.MEDIA_SENDFILE_PREFIX.rstrip("/")
        response["X-Accel-Redirect"] = f"{prefix}/{quote(name)}"
    elif mode == "apache":
        response = HttpResponse(content_type=content_type)
        response["X-Sendfile"] = storage.path(name)
    else:
        response = FileResponse(storage.open(name, "rb"), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(not inline, filename)
    response["X-Content-Type-Options"] = "nosniff"
    patch_cache_control(response, private=True, no_store=True)
    return response


def content_response(content: bytes, *, filename: str) -> HttpResponse:
    """A document made on the fly (a reprinted letter) handed over like a stored file: a download
    under ``filename``, typed by its name (opaque bytes unless a passive type), ``nosniff``, and
    a private, non-stored cache."""
    guessed = mimetypes.guess_type(filename)[0] or ""
    response = HttpResponse(content, content_type=guessed if guessed in PASSIVE_TYPES else "application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    patch_cache_control(response, private=True, no_store=True)
    return response


@require_GET
@login_required
def stored_file(request, name: str):
    """``MEDIA_URL<name>``: the file, to a signed-in user holding the permission of one of its
    owners (anonymous: the login page; without the permission: 403; owned by nothing: 404)."""
    if not _safe_name(name):
        raise Http404("Ce fichier est introuvable.")
    owners = file_owners(name)
    if not owners:
        raise Http404("Ce fichier est introuvable.")
    allowed = [o for o in owners if request.user.has_perm(o.perm)]
    if not allowed:
        raise PermissionDenied(gettext("Vous n'avez pas accès à ce fichier."))
    return file_response(name, inline_image=any(o.inline_image for o in allowed))
