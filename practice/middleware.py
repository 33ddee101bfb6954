"""Requests too large for the application, refused with a French page before anything reads them."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.template import loader
from django.utils.translation import gettext

from practice.uploads import MB, mb_label


def request_max_bytes() -> int:
    return int(settings.REQUEST_MAX_MB * MB)


def size_label(size: int) -> str:
    """A size in bytes as staff read it, in the active language: "25 Mo", "2,5 Mo", "49 Ko"
    ("2.5 MB", "49 KB" in English)."""
    if size >= MB:
        return mb_label(float(f"{size / MB:.3g}"))
    return gettext("%(size)s Ko") % {"size": f"{size / 1024:.0f}"}


def too_large_response(request, *, limit: int | None = None):
    """The French page for a request over ``limit`` bytes (default: the request limit), 413."""
    limit = request_max_bytes() if limit is None else limit
    # Like the other error pages (templates/errors/standalone.html): no request context, so
    # nothing here reads the body or the database.
    body = loader.render_to_string("413.html", {"limit": size_label(limit), "back": _same_site_referer(request)})
    return HttpResponse(body, status=413)


def _same_site_referer(request) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure()):
        return referer
    return ""


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body exceeds ``REQUEST_MAX_MB`` with the French 413 page,
    before the body is read. Django alone limits only the form fields
    (``DATA_UPLOAD_MAX_MEMORY_SIZE``), not the uploaded files; the proxy's own limit
    (``client_max_body_size`` for nginx, docs/deployment.md) must be at least as large, or
    it answers first with its own English page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > request_max_bytes():
            # The body is left unread: the server closes the connection after the answer.
            return too_large_response(request)
        return self.get_response(request)
