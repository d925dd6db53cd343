"""LabContainer now belongs to the lab app (lab/migrations/0001_initial adopts it); the dashboard app keeps no
models, only these migrations, which databases made before the split have applied."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("dashboard", "0005_move_apitoken"),
        ("lab", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="LabContainer")],
            database_operations=[],
        ),
    ]
