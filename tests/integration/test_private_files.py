"""The files the server writes hold its signing key, its VAPID key and the password hashes:
another account on the machine can't read them, whether the server made them or found them.

The server runs with the defaults (`salon serve` in a fresh working directory: a SQLite
`salon.db`, a generated `.salon-secret` and `.salon-vapid`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.utils.factories import API, expect, unique_email
from tests.utils.server import ServerProcess

FILES = (".salon-secret", ".salon-vapid", "salon.db", "salon.db-wal", "salon.db-shm")


def modes(workdir: Path) -> dict[str, str]:
    return {name: oct(stat.S_IMODE((workdir / name).stat().st_mode)) for name in FILES}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The umask the server processes started meanwhile inherit."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def test_key_and_database_files_are_owner_only_and_made_so_when_found_readable(
    tmp_path: Path,
) -> None:
    workdir = tmp_path.resolve()  # as the warnings name the files
    server = ServerProcess({}, workdir=workdir)  # no setting at all: the defaults
    account = {"email": unique_email(), "password": "owner-only-pass-7", "full_name": "Owner"}
    try:
        with umask(0o022):  # the usual one, with which SQLite alone makes 0644 files
            server.start(timeout=30)
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            expect(client.post(f"{API}/auth/register", json=account), 201)  # the WAL is used
            login = {"username": account["email"], "password": account["password"]}
            token = expect(client.post(f"{API}/auth/login", data=login), 200).json()
        # While it runs, the database's WAL and shared-memory files exist too.
        assert modes(workdir) == dict.fromkeys(FILES, "0o600"), server.log_tail()
    finally:
        server.kill()  # a crash: the -wal and -shm files stay behind

    # As an older version (or a hand-made key file) would have left them.
    key = (workdir / ".salon-secret").read_text()
    for name in FILES:
        (workdir / name).chmod(0o644)
    logged_before = len(server.log_text())
    try:
        with umask(0o022):
            server.start(timeout=30)
        assert modes(workdir) == dict.fromkeys(FILES, "0o600"), server.log_tail()
        log = server.log_text()[logged_before:]
        for name in FILES:
            assert f"{workdir / name} was readable by other users (mode 644)" in log, log
        assert key not in log
        # The key is the one in the file still: a token signed before the restart works.
        assert (workdir / ".salon-secret").read_text() == key
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            me = expect(client.get(f"{API}/auth/me", headers=headers), 200).json()
            assert me["email"] == account["email"]
    finally:
        server.stop()
