"""Portico's files are private to the user it runs as: the umask every entry point sets, and what doctor checks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# New files 0600, new directories 0700: the SQLite database (sessions, the NPM password), secret keys, sealed
# certificates, nginx's files and logs.
PRIVATE_UMASK = 0o077


def restrict_umask() -> None:
    """Make everything this process creates from now on private to its user (entry points call it first)."""
    os.umask(PRIVATE_UMASK)


def open_passage(var_dir: Path, target: Path) -> None:
    """Let other users pass through (x, never read) every directory from ``var_dir`` down to ``target``.

    Only for a process running as root, whose nginx runs its workers as ``nobody``: they must reach their temp
    directories (and files nginx serves, like ACME answers) inside the private ``var_dir``. Directories outside
    ``var_dir`` are left alone.
    """
    if os.geteuid() != 0:
        return
    var_dir, target = var_dir.resolve(), target.resolve()
    if target != var_dir and var_dir not in target.parents:
        return
    for directory in [target, *target.parents]:
        mode = stat.S_IMODE(directory.lstat().st_mode)
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
        if directory == var_dir:
            break


def loose_paths(root: Path, public: tuple[Path, ...] = ()) -> list[tuple[Path, int]]:
    """What other users can read or write under ``root`` (itself included), with the modes.

    Loose: a directory with group or other read or write, or a file with any group or other bit, inside
    directories others may enter. A directory that others cannot enter hides what it holds, so it is not walked
    (nginx chmods what it writes after daemonizing itself; inside a private directory that is harmless).
    Search alone is not loose (it lets nginx's workers through, see open_passage). Symbolic links are not
    followed; directories in ``public`` (served to anyone anyway, like ACME answers) are skipped.
    """
    found: list[tuple[Path, int]] = []
    if not root.exists():
        return found
    public_resolved = tuple(p.resolve() for p in public)
    for current, dirs, files in os.walk(root):
        here = Path(current)
        mode = stat.S_IMODE(here.lstat().st_mode)
        if here.resolve() in public_resolved:
            dirs[:] = []
            continue
        if mode & 0o066:
            found.append((here, mode))
        if not mode & 0o011:
            dirs[:] = []
            continue
        for name in files:
            path = here / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
                found.append((path, stat.S_IMODE(info.st_mode)))
    return found
