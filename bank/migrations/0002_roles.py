"""Create the role groups. Their permissions are synced after every migrate (bank.roles)."""

from django.db import migrations

ROLES = ["coordinator", "technician", "qa", "researcher", "sensor", "admin"]


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("bank", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
