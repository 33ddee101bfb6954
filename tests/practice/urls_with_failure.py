"""The project's URLs plus one view that fails, to see the production 500 page."""

from django.urls import path

from practice.urls import handler403, handler500, urlpatterns  # noqa: F401 - Django reads them here


def failing_view(request):
    raise RuntimeError("panne simulée")


urlpatterns = [*urlpatterns, path("panne/", failing_view)]
