"""LabContainer moves here from the dashboard app: the state only (the table keeps its name), with its content
type."""

import django.utils.timezone
from django.db import migrations, models


def move_content_type(apps, schema_editor, old="dashboard", new="lab"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    moving = ContentType.objects.filter(app_label=old, model="labcontainer").first()
    if moving is not None:
        # A row under the new label can only come from a post_migrate run in between; the old one is the original.
        ContentType.objects.filter(app_label=new, model="labcontainer").delete()
        moving.app_label = new
        moving.save(update_fields=["app_label"])


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old="lab", new="dashboard")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("dashboard", "0005_move_apitoken"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LabContainer",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("container_id", models.CharField(max_length=64, unique=True)),
                        ("lab_id", models.CharField(db_index=True, max_length=255)),
                        ("name", models.CharField(max_length=255)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={"db_table": "dashboard_labcontainer"},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
