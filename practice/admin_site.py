import functools

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext, gettext_lazy


class PracticeAdminSite(admin.AdminSite):
    site_header = gettext_lazy("Administration du cabinet")
    site_title = gettext_lazy("Administration")
    index_title = gettext_lazy("Paramétrage avancé")

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def guarded(request, *args, **kwargs):
            # A signed-in member of staff without admin rights gets a clear 403, not the admin's
            # login form inviting them to "log in as another user".
            user = request.user
            if user.is_authenticated and not (user.is_active and user.is_staff):
                raise PermissionDenied(gettext("L'administration est réservée aux administrateurs."))
            return inner(request, *args, **kwargs)

        return guarded
