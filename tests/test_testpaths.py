"""Every folder that holds tests is one pytest collects: a folder left out of ``testpaths`` runs in no pass at all."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_folder_with_tests_is_in_testpaths():
    testpaths = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"])
    with_tests = {
        path.relative_to(ROOT).parts[0]
        for path in ROOT.glob("*/**/test_*.py")
        if not {".venv", "var", "test-results", "node_modules"} & set(path.relative_to(ROOT).parts)
    }
    assert with_tests, "found no test files at all"
    assert with_tests <= testpaths, f"not collected by pytest: {sorted(with_tests - testpaths)}"
