"""No role may add, change or delete django-q2 schedules or tasks: a schedule names a function
the cluster runs (see practice.q_guard). practice.roles.sync_roles no longer grants these
permissions; this removes them from the groups of databases that already had them."""

from django.db import migrations


def drop_django_q_write_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    writes = Permission.objects.filter(content_type__app_label="django_q").exclude(codename__startswith="view_")
    for group in Group.objects.filter(permissions__in=writes).distinct():
        group.permissions.remove(*writes)


class Migration(migrations.Migration):
    dependencies = [
        ("practice", "0004_phone_field_e164"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(drop_django_q_write_permissions, migrations.RunPython.noop)]
