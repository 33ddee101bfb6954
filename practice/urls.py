from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from . import files, views

urlpatterns = [
    path("", views.home, name="home"),
    path("connexion/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("deconnexion/", auth_views.LogoutView.as_view(), name="logout"),
    # Staff change their own password (own templates: the admin keeps its registration/ ones).
    path(
        "mot-de-passe/",
        auth_views.PasswordChangeView.as_view(template_name="practice/password_change_form.html"),
        name="password_change",
    ),
    path(
        "mot-de-passe/modifie/",
        auth_views.PasswordChangeDoneView.as_view(template_name="practice/password_change_done.html"),
        name="password_change_done",
    ),
    path("langue/", views.language, name="language"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The scripts' own strings (locale/<lang>/LC_MESSAGES/djangojs.po), as a script file: CSP-safe.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("patients/", include("patients.urls")),
    path("messages/", include("messaging.urls")),
    # Sending pages ("envois/", namespace "sending") and gateway webhooks ("webhooks/").
    path("", include("messaging.urls_sending")),
    path("programmeur/", include("scheduler.urls")),
    path("recherches/", include("patients.urls_search")),
    # Mass mailing ("publipostage/", namespace "mass") and campaigns ("campagnes/", "campaigns").
    path("", include("messaging.urls_mass")),
    path("admin/", admin.site.urls),
    # Every stored file (MEDIA_URL, so FileField.url too), behind login and the owner's
    # permission: never a public /media/.
    path("fichiers/<path:name>", files.stored_file, name="stored_file"),
]

handler400 = "practice.views.bad_request"
handler403 = "practice.views.permission_denied"
# 404: Django's view with templates/404.html; 400: Django's view with templates/400.html.
handler500 = "practice.views.server_error"
