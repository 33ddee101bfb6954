from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("", views.patient_list, name="list"),
    path("nouveau/", views.patient_create, name="create"),
    path("recherche/", views.patient_lookup, name="lookup"),
    path("<int:pk>/", views.patient_detail, name="detail"),
    path("<int:pk>/modifier/", views.patient_edit, name="edit"),
    path("<int:pk>/famille/", views.family_member_create, name="family_member_create"),
    path("<int:pk>/images/", views.image_add, name="image_add"),
    path("images/<int:pk>/", views.image_file, name="image_file"),
    path("images/<int:pk>/supprimer/", views.image_delete, name="image_delete"),
    path("responsables/recherche/", views.guardian_lookup, name="guardian_lookup"),
    path("responsables/<int:pk>/modifier/", views.guardian_edit, name="guardian_edit"),
    path("rendez-vous/", views.planning, name="planning"),
    path("rendez-vous/nouveau/", views.appointment_create, name="appointment_create"),
    path("rendez-vous/<int:pk>/deplacer/", views.appointment_move, name="appointment_move"),
    path("rendez-vous/<int:pk>/etat/", views.appointment_state, name="appointment_state"),
    path("rendez-vous/<int:pk>/annuler/", views.appointment_cancel, name="appointment_cancel"),
]
