"""The files the server writes hold secrets (the signing key, the VAPID key, password hashes
in the SQLite database): readable by their owner only, from the moment they exist.

Every such file is created by `create_owner_only` and checked by `keep_owner_only` when
found: one written by an older version, or by hand, with the group's or others' bits set
is made owner-only, with a warning naming it (never its content).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

OWNER_ONLY = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO  # any of these lets another local account in


def create_owner_only(path: Path) -> int:
    """A new file at `path`, open for writing (a descriptor), created 0600 by open(2) itself:
    no moment when another user could open it. FileExistsError if it is there already."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)


def keep_owner_only(path: Path) -> None:
    """If `path` exists and others may read (or write) it, take their bits away, warning."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & _OTHERS:
        return
    try:
        os.chmod(path, mode & stat.S_IRWXU)
    except OSError as exc:  # not ours, or a read-only mount: say so, the operator must act
        logger.warning(
            "%s is readable by other users (mode %03o) and could not be made owner-only: %s",
            path.resolve(),
            mode,
            exc.strerror,
        )
        return
    logger.warning(
        "%s was readable by other users (mode %03o): made it readable by its owner only",
        path.resolve(),
        mode,
    )
