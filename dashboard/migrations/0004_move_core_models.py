"""Capability and AuditEntry now belong to the core app (core/migrations/0001_initial adopts them)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("dashboard", "0003_labcontainer"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Capability"),
                migrations.DeleteModel(name="AuditEntry"),
            ],
            database_operations=[],
        ),
    ]
