"""Capability and AuditEntry move here from the dashboard app: the state only (the audit table keeps its name),
and their content types with them, so the permissions the role groups hold stay the same rows."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ("capability", "auditentry")


def move_content_types(apps, schema_editor, old="dashboard", new="core"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        moving = ContentType.objects.filter(app_label=old, model=model).first()
        if moving is None:
            continue
        # A row under the new label can only come from a post_migrate run in between; the old row's permissions
        # are the ones the groups hold, so the old row wins.
        ContentType.objects.filter(app_label=new, model=model).delete()
        moving.app_label = new
        moving.save(update_fields=["app_label"])


def move_content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, old="core", new="dashboard")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("dashboard", "0003_labcontainer"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Capability",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                    ],
                    options={
                        "permissions": [
                            ("view_portico", "See routes, containers, revisions and logs"),
                            ("operate", "Apply routes, roll back, start/stop/restart containers"),
                            ("administer", "Manage users, tokens of others, engines and settings"),
                        ],
                        "managed": False,
                        "default_permissions": (),
                    },
                ),
                migrations.CreateModel(
                    name="AuditEntry",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("actor_name", models.CharField(blank=True, help_text="Kept when the user is deleted.", max_length=150)),
                        ("source", models.CharField(choices=[("ui", "Ui"), ("api", "Api"), ("cli", "Cli"), ("system", "System")], max_length=10)),
                        ("action", models.CharField(db_index=True, max_length=64)),
                        ("object_type", models.CharField(blank=True, db_index=True, max_length=64)),
                        ("object_id", models.CharField(blank=True, max_length=64)),
                        ("object_repr", models.CharField(blank=True, max_length=255)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("message", models.TextField(blank=True)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "verbose_name_plural": "audit entries",
                        "ordering": ["-created_at", "-id"],
                        "db_table": "dashboard_auditentry",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
