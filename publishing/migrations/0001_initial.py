"""Revision and NpmSettings move here from the routes app: the state only (the tables keep their names), with their
content types."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVING = ("revision", "npmsettings")


def move_content_types(apps, schema_editor, old="routes", new="publishing"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVING:
        moving = ContentType.objects.filter(app_label=old, model=model).first()
        if moving is not None:
            # A row under the new label can only come from a post_migrate run in between; the old one is the original.
            ContentType.objects.filter(app_label=new, model=model).delete()
            moving.app_label = new
            moving.save(update_fields=["app_label"])


def move_content_types_back(apps, schema_editor):
    move_content_types(apps, schema_editor, old="publishing", new="routes")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("routes", "0004_domain_https"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Revision",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("number", models.PositiveIntegerField(unique=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("author_name", models.CharField(blank=True, max_length=150)),
                        ("publisher", models.CharField(default="nginx", max_length=10)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("applied", "Applied"),
                                    ("failed", "Failed"),
                                    ("rolled_back", "Rolled Back"),
                                ],
                                default="pending",
                                max_length=12,
                            ),
                        ),
                        ("message", models.TextField(blank=True, help_text="Why it failed, in words a person can act on.")),
                        ("diff", models.TextField(blank=True)),
                        ("output", models.TextField(blank=True, help_text="What nginx (or NPM) printed.")),
                        ("files", models.JSONField(default=dict, help_text="The rendered files: name -> text.")),
                        (
                            "snapshot",
                            models.JSONField(default=dict, help_text="The desired state that was applied (config document)."),
                        ),
                        (
                            "author",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "rollback_of",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="publishing.revision",
                            ),
                        ),
                    ],
                    options={"db_table": "routes_revision", "ordering": ["-number"]},
                ),
                migrations.CreateModel(
                    name="NpmSettings",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("url", models.CharField(blank=True, help_text="NPM's API, e.g. http://npm:81/api", max_length=500)),
                        ("identity", models.EmailField(blank=True, help_text="The NPM user's e-mail.", max_length=254)),
                        ("secret", models.CharField(blank=True, max_length=500)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "version",
                            models.PositiveIntegerField(default=1, help_text="Bumped on every change (optimistic locking)."),
                        ),
                    ],
                    options={
                        "db_table": "routes_npmsettings",
                        "verbose_name": "NPM settings",
                        "verbose_name_plural": "NPM settings",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
