"""Create the three roles as groups. Their permissions are synchronised after every migrate by
practice.roles.sync_roles (permissions only exist once every app has migrated)."""

from django.db import migrations

ROLES = ["Administrateur", "Praticien", "Assistant(e)"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("practice", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
