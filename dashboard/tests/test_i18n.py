"""The whole UI speaks Korean and English; the Korean catalogue is complete and compiled; the API stays English."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

KO_PO = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES" / "django.po"


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str = ""
    msgctxt: str | None = None
    msgstrs: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False


def parse_po(path: Path) -> list[Entry]:
    """A small reader of gettext catalogues: enough to check that each message has a translation."""
    entries: list[Entry] = []
    current = Entry()
    key = None
    for raw in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = raw.strip()
        if not line:
            if key is not None:
                entries.append(current)
            current, key = Entry(), None
            continue
        if line.startswith("#~"):
            current.obsolete = True
            continue
        if line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            key, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if key.startswith("msgstr"):
                current.msgstrs.append("")
        if key == "msgid":
            current.msgid += value
        elif key == "msgid_plural":
            current.msgid_plural += value
        elif key == "msgctxt":
            current.msgctxt = (current.msgctxt or "") + value
        elif key.startswith("msgstr"):
            current.msgstrs[-1] += value
    return entries


def messages() -> list[Entry]:
    return [e for e in parse_po(KO_PO) if e.msgid and not e.obsolete]


def test_the_reader_sees_the_catalogue():
    entries = messages()
    assert len(entries) > 30
    assert any(e.msgid == "Overview" for e in entries)


def test_every_korean_message_is_translated_and_not_fuzzy():
    untranslated = [e.msgid for e in messages() if not all(s.strip() for s in e.msgstrs) or not e.msgstrs]
    fuzzy = [e.msgid for e in messages() if "fuzzy" in e.flags]
    assert not untranslated, f"Korean translation missing for: {untranslated[:20]}"
    assert not fuzzy, f"fuzzy Korean translations (check them, then drop the flag): {fuzzy[:20]}"


def test_placeholders_survive_translation():
    import re

    pattern = re.compile(r"%\(\w+\)[sd]|\{\w*\}")
    for e in messages():
        # Korean has one plural form: it must carry the plural's placeholders (e.g. the count).
        source = e.msgid_plural or e.msgid
        for msgstr in e.msgstrs:
            assert sorted(set(pattern.findall(msgstr))) == sorted(set(pattern.findall(source))), e.msgid


def test_the_compiled_catalogue_is_current():
    """scripts/test and scripts/serve compile the .po; every message must come back translated at run time."""
    with translation.override("ko"):
        for e in messages():
            if e.msgid_plural:
                got = translation.npgettext(e.msgctxt, e.msgid, e.msgid_plural, 1) if e.msgctxt else None
                got = got or translation.ngettext(e.msgid, e.msgid_plural, 1)
            elif e.msgctxt:
                got = translation.pgettext(e.msgctxt, e.msgid)
            else:
                got = translation.gettext(e.msgid)
            assert got == e.msgstrs[0], f"{e.msgid!r} is not compiled (run scripts/i18n or scripts/test)"


@pytest.mark.django_db
def test_the_pages_follow_the_language_switch(client, viewer_user):
    client.force_login(viewer_user)
    english = client.get("/").content.decode()
    assert ">Overview<" in english
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    assert response.status_code == 302
    korean = client.get("/").content.decode()
    assert 'lang="ko"' in korean
    assert ">개요<" in korean
    assert "로그아웃" in korean
    assert "조회자" in korean  # the role badge


@pytest.mark.django_db
def test_the_api_stays_english(client, viewer_user):
    client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    response = client.get("/api/v1/tokens", headers={"Accept-Language": "ko"})
    assert response.status_code == 401
    assert response.json()["detail"].isascii()
    health = client.get("/api/v1/health", headers={"Accept-Language": "ko"})
    assert health["Content-Language"] == "en"
    page = client.get("/login/", headers={"Accept-Language": "ko"})
    assert page["Content-Language"] == "ko"
