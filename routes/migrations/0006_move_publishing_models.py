"""Revision and NpmSettings now belong to the publishing app (publishing/migrations/0001_initial adopts them, tables
kept); the routes app forgets them."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("routes", "0005_route_action"),
        ("publishing", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="NpmSettings"),
                migrations.DeleteModel(name="Revision"),
            ],
            database_operations=[],
        ),
    ]
