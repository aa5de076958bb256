"""Smaller holes: a redirect never names a forged Host, token answers are not cached, the
probes answer HEAD, and the server refuses to start on a weak key or a missing extra
instead of running badly or dying with a traceback."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.utils.factories import API, Api
from tests.utils.server import REPO_ROOT, server_env


async def test_the_trailing_slash_redirect_does_not_echo_the_host(api: Api) -> None:
    response = await api.client.get(
        f"{API}/salons/", headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 307, response.text
    assert response.headers["location"] == f"{API}/salons"
    # ...and it still leads to the list.
    followed = await api.client.get(
        f"{API}/salons/", headers=api.auth(api.superadmin_token), follow_redirects=True
    )
    assert followed.status_code == 200


async def test_token_answers_are_never_cached(api: Api) -> None:
    customer = await api.register_customer()
    login = await api.login_response(customer.email, customer.password)
    minted = await api.client.post(f"{API}/notifications/stream-token", headers=customer.headers)
    session = await api.client.post(
        f"{API}/auth/session", data={"username": customer.email, "password": customer.password}
    )
    for response in (login, minted, session):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store", response.request.url


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_answer_head_as_they_answer_get(client: httpx.AsyncClient, path: str) -> None:
    get, head = await client.get(path), await client.head(path)
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""


def _serve(
    tmp_path: Path, env: dict[str, str], *args: str, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """`salon serve` in a fresh directory; `prelude` runs first in the same interpreter."""
    argv = ["salon", "serve", *args]
    code = f"{prelude}\nimport sys\nfrom app.cli import main\nsys.argv = {argv!r}\nmain()"
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_short_secret_key_is_refused_outside_the_demo(tmp_path: Path) -> None:
    env = server_env(f"sqlite+aiosqlite:///{tmp_path}/x.db", SECRET_KEY="k" * 31)
    result = _serve(tmp_path, env, "--port", "1")
    assert result.returncode == 2, result.stderr
    assert "SECRET_KEY is 31 bytes; at least 32" in result.stderr
    assert "Traceback" not in result.stderr


def test_redis_without_the_extra_is_one_line_naming_it(tmp_path: Path) -> None:
    env = server_env(f"sqlite+aiosqlite:///{tmp_path}/x.db", BROKER_URL="redis://127.0.0.1:1/0")
    # As if the extra were not installed: `import redis` fails in that interpreter.
    result = _serve(tmp_path, env, "--port", "1", prelude="import sys; sys.modules['redis'] = None")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "salon-notifications[redis]" in lines[0], result.stderr


def test_the_generated_secret_file_is_created_owner_only(tmp_path: Path) -> None:
    """Created 0600 by open(2) itself: nothing may chmod it afterwards (a window where
    another local user could read it), which the prelude forbids."""
    forbid = (
        "import os, pathlib\n"
        "def no(*a, **k): raise AssertionError('chmod after creation')\n"
        "os.chmod = no; pathlib.Path.chmod = no\nos.umask(0)\n"
    )
    code = forbid + "from app.core.config import Settings\nprint(len(Settings().secret_key))"
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    secret_file = tmp_path / ".salon-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text().strip()) == int(result.stdout) >= 32
