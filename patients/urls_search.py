"""The "Recherches" pages, included at "recherches/" (namespace "search")."""

from django.urls import path

from . import views_search as views

app_name = "search"

urlpatterns = [
    path("rendez-vous/", views.appointment_search, name="appointments"),
    path("patients/", views.patient_search, name="patients"),
    path("selection/<str:key>/", views.selection_change, name="selection"),
]
