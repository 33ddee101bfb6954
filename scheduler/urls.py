from django.urls import path

from . import views

app_name = "scheduler"

urlpatterns = [
    path("", views.index, name="index"),
    path("nouveau/", views.create, name="create"),
    path("evenements/", views.events, name="events"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/supprimer/", views.delete, name="delete"),
    path("<int:pk>/actif/", views.toggle, name="toggle"),
    path("<int:pk>/tester/", views.test, name="test"),
    path("<int:pk>/executer/", views.run_now, name="run_now"),
    path("<int:pk>/executions/", views.runs, name="runs"),
    path("executions/<int:pk>/", views.run_detail, name="run"),
]
