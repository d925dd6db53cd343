"""ApiToken moves here from the dashboard app: the state only (the table keeps its name), with its content type,
and the audit trail's entries about tokens name the model by its new label."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def move_token(apps, schema_editor, old="dashboard", new="accounts"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    moving = ContentType.objects.filter(app_label=old, model="apitoken").first()
    if moving is not None:
        # A row under the new label can only come from a post_migrate run in between; the old one is the original.
        ContentType.objects.filter(app_label=new, model="apitoken").delete()
        moving.app_label = new
        moving.save(update_fields=["app_label"])
    # Entries name the model they are about by its label (the audit page and ?object_type= filter by it).
    apps.get_model("core", "AuditEntry").objects.filter(object_type=f"{old}.apitoken").update(
        object_type=f"{new}.apitoken"
    )


def move_token_back(apps, schema_editor):
    move_token(apps, schema_editor, old="accounts", new="dashboard")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("dashboard", "0004_move_core_models"),
        ("core", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=100)),
                        ("prefix", models.CharField(help_text="The first characters, to recognise a token.", max_length=12)),
                        ("token_hash", models.CharField(max_length=64, unique=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("version", models.PositiveIntegerField(default=1, help_text="Bumped when the token is revoked (optimistic locking); use is not a change.")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "dashboard_apitoken",
                        "ordering": ["-created_at"],
                        "constraints": [models.UniqueConstraint(fields=("user", "name"), name="unique_token_name_per_user")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_token, move_token_back),
    ]
