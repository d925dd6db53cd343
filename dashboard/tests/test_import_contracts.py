"""The import-linter contracts (.importlinter) look at every package of Portico's code."""

from __future__ import annotations

import configparser

from django.conf import settings

# Packages at the top of the repository that hold no product code.
NOT_PRODUCT = {"tests", "bench"}


def test_every_top_level_package_is_a_root_package_of_the_contracts():
    # A package missing from root_packages is not analysed at all: its imports would break no contract.
    config = configparser.ConfigParser()
    config.read(settings.BASE_DIR / ".importlinter", encoding="utf-8")
    roots = set(config["importlinter"]["root_packages"].split())
    packages = {init.parent.name for init in settings.BASE_DIR.glob("*/__init__.py")} - NOT_PRODUCT
    assert packages, "no packages found: is BASE_DIR the repository?"
    assert packages == roots, (
        f"add to .importlinter root_packages: {sorted(packages - roots)}; gone: {sorted(roots - packages)}"
    )
