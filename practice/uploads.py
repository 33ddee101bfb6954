"""What staff may upload: the files a practice sends with its emails, and images for the album.

Each validator checks the extension AND the first bytes of the content (a renamed ``.html`` is
not a PDF), and the size against a setting. They sit on the model fields, so the pages and the
admin refuse the same files with the same French message.
"""

from __future__ import annotations

import zipfile
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.formats import get_format
from django.utils.translation import gettext

MB = 1024 * 1024

# Extensions of the documents a practice attaches to an email, by family.
PDF = {"pdf"}
IMAGES = {"jpg", "jpeg", "png", "gif", "webp"}
OLE_OFFICE = {"doc", "xls", "ppt"}  # Office 97-2003: an OLE2 compound file
OOXML = {"docx", "xlsx", "pptx"}  # a zip with [Content_Types].xml
ODF = {"odt", "ods", "odp"}  # a zip whose first member is "mimetype"
TEXT = {"txt", "csv"}
RTF = {"rtf"}
ATTACHMENT_EXTENSIONS = PDF | IMAGES | OLE_OFFICE | OOXML | ODF | TEXT | RTF
# The album: photos and X-ray exports (TIFF and BMP are common radiography exports).
ALBUM_EXTENSIONS = IMAGES | {"bmp", "tif", "tiff"}
IMAGE_FORMATS = {"jpg": {"JPEG", "MPO"}, "jpeg": {"JPEG", "MPO"}, "png": {"PNG"}, "gif": {"GIF"},
                 "webp": {"WEBP"}, "bmp": {"BMP"}, "tif": {"TIFF"}, "tiff": {"TIFF"}}

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Markup that a browser or a mail client would run or render: never in a "text" file.
ACTIVE_MARKUP = (b"<html", b"<script", b"<!doctype", b"<svg", b"<iframe", b"<body")


def _extension(name: str) -> str:
    return PurePath(name or "").suffix.lower().lstrip(".")


def _head(upload, size: int = 8192) -> bytes:
    upload.seek(0)
    head = upload.read(size)
    upload.seek(0)
    return head


def _image_format(upload) -> str | None:
    """Pillow's name for the image format, or None when the content is not an image."""
    from PIL import Image

    upload.seek(0)
    try:
        with Image.open(upload) as image:
            image.verify()
            found = image.format
    except Exception:  # Pillow raises many types for a non-image; all mean "not an image"
        found = None
    upload.seek(0)
    return found


def _zip_kind(upload) -> str | None:
    """"ooxml", "odf" or None, read from the zip's table of contents."""
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype")[:80] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        names, mimetype = [], b""
    upload.seek(0)
    if "[Content_Types].xml" in names:
        return "ooxml"
    if mimetype.startswith(b"application/vnd.oasis.opendocument."):
        return "odf"
    return None


def _content_matches(ext: str, upload) -> bool:
    head = _head(upload)
    if ext in PDF:
        return head.startswith(b"%PDF-")
    if ext in IMAGES:
        return _image_format(upload) in IMAGE_FORMATS[ext]
    if ext in OLE_OFFICE:
        return head.startswith(OLE_MAGIC)
    if ext in OOXML:
        return _zip_kind(upload) == "ooxml"
    if ext in ODF:
        return _zip_kind(upload) == "odf"
    if ext in RTF:
        return head.startswith(b"{\\rtf")
    if ext in TEXT:
        lowered = head.lower()
        return b"\x00" not in head and not any(tag in lowered for tag in ACTIVE_MARKUP)
    return False


def mb_label(megabytes: float) -> str:
    """A size in megabytes as staff read it, in the active language: "2,5 Mo" / "2.5 MB"."""
    number = f"{megabytes:g}".replace(".", get_format("DECIMAL_SEPARATOR"))
    return gettext("%(size)s Mo") % {"size": number}


def _limit(setting: str, default: float) -> tuple[int, str]:
    """(bytes, label in the active language) of the size limit in megabytes held by ``setting``."""
    megabytes = getattr(settings, setting, default)
    return int(megabytes * MB), mb_label(megabytes)


@deconstructible
class AttachmentValidator:
    """A file to attach to emails: an allowed type whose content is what its extension says, no
    larger than ``EMAIL_ATTACHMENT_MAX_MB``."""

    def __call__(self, upload) -> None:
        if getattr(upload, "_committed", False):
            return  # already stored (an unrelated change of the record): checked when it came in
        ext = _extension(upload.name)
        if ext not in ATTACHMENT_EXTENSIONS:
            raise ValidationError(
                gettext("Type de fichier refusé (%(ext)s). Fichiers acceptés : PDF, images (JPEG, PNG, GIF, WebP), "
                        "documents Word, Excel, PowerPoint ou LibreOffice, texte (TXT, CSV, RTF)."),
                code="file_type", params={"ext": f".{ext}" if ext else gettext("sans extension")},
            )
        limit, label = _limit("EMAIL_ATTACHMENT_MAX_MB", 10)
        if upload.size > limit:
            raise ValidationError(
                gettext("Le fichier dépasse la taille maximale de %(limit)s pour une pièce jointe."),
                code="file_size", params={"limit": label},
            )
        if not _content_matches(ext, upload):
            raise ValidationError(
                gettext("Le contenu du fichier ne correspond pas à son extension .%(ext)s : fichier refusé."),
                code="file_content", params={"ext": ext},
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, AttachmentValidator)


@deconstructible
class AlbumImageValidator:
    """An image of the patient's album: a JPEG, PNG, GIF, WebP, BMP or TIFF that Pillow can read,
    under ``PATIENT_IMAGE_MAX_MB``."""

    def __call__(self, upload) -> None:
        if getattr(upload, "_committed", False):
            return  # already stored: checked when it came in
        ext = _extension(upload.name)
        if ext not in ALBUM_EXTENSIONS:
            raise ValidationError(
                gettext("Seules les images sont acceptées (JPEG, PNG, GIF, WebP, BMP, TIFF)."), code="file_type"
            )
        limit, label = _limit("PATIENT_IMAGE_MAX_MB", 20)
        if upload.size > limit:
            raise ValidationError(
                gettext("L'image dépasse la taille maximale de %(limit)s."), code="file_size", params={"limit": label}
            )
        if _image_format(upload) not in IMAGE_FORMATS[ext]:
            raise ValidationError(
                gettext("Le fichier n'est pas une image lisible de type .%(ext)s."), code="file_content",
                params={"ext": ext}
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, AlbumImageValidator)


validate_attachment = AttachmentValidator()
validate_album_image = AlbumImageValidator()


# ---------------------------------------------------------------------------------------------
# A file chosen in a form that comes back with an error: kept on the server, not picked again
# ---------------------------------------------------------------------------------------------

KEPT_UPLOADS_DIR = "televersements"  # owned by no record: never served (practice.files)
_KEPT_SESSION_KEY = "kept_uploads"


def upload_keep(upload, *, session, purpose: str) -> str:
    """Store ``upload`` while its form is corrected and return the token a hidden field carries
    back. The file is stored under ``KEPT_UPLOADS_DIR`` with a random name and remembered in
    ``session`` (one per ``purpose``: keeping another replaces and deletes the previous one),
    so a token is only ever valid for the person who uploaded the file."""
    import secrets

    from django.core.files.storage import default_storage

    token = secrets.token_urlsafe(16)
    path = default_storage.save(f"{KEPT_UPLOADS_DIR}/{purpose}/{token}", upload)
    upload_forget(session=session, purpose=purpose)
    kept = dict(session.get(_KEPT_SESSION_KEY) or {})
    kept[purpose] = {"token": token, "name": PurePath(upload.name or "fichier").name, "path": path}
    session[_KEPT_SESSION_KEY] = kept
    return token


def upload_kept(*, session, purpose: str, token: str) -> dict | None:
    """{"name": the file's original name, "path": its storage name} of the file kept for
    ``purpose`` under ``token`` in this session, or None (another token, a file gone)."""
    from django.core.files.storage import default_storage

    found = (session.get(_KEPT_SESSION_KEY) or {}).get(purpose)
    if not token or not found or found.get("token") != token or not default_storage.exists(found["path"]):
        return None
    return found


def upload_forget(*, session, purpose: str) -> None:
    """Delete the file kept for ``purpose`` in this session (once used, or replaced)."""
    from django.core.files.storage import default_storage

    kept = dict(session.get(_KEPT_SESSION_KEY) or {})
    found = kept.pop(purpose, None)
    if found is None:
        return
    if default_storage.exists(found["path"]):
        default_storage.delete(found["path"])
    session[_KEPT_SESSION_KEY] = kept
