"""Debian's nginx as a child of the test, running deploy/nginx.conf in front of instances.

The deployment file is used as it is, except for what only the test can know: the
addresses of the upstream instances and the port to listen on. Everything else (pid,
logs, temp files) lives in the test's own directory, through a small main config that
includes the site file; nginx runs in the foreground (`daemon off`) so the test owns it.
A missing nginx is an error, never a skip.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.utils.server import REPO_ROOT, free_port

NGINX = os.environ.get("TEST_NGINX") or "/usr/sbin/nginx"
DEPLOY_CONF = REPO_ROOT / "deploy" / "nginx.conf"
UPSTREAM_BLOCK = re.compile(r"^upstream\s+salon_backend\s*\{\n(?P<body>.*?)^\}", re.M | re.S)
UPSTREAM_SERVER = re.compile(r"^(?P<head>\s*server\s+)(?P<address>[^\s;]+)", re.M)
LISTEN = re.compile(r"^(?P<head>\s*listen\s+)[^;]+;", re.M)
# access_log and error_log paths: moved into the test's directory, level and format kept.
LOG_PATH = re.compile(r"^(?P<head>\s*(?:access|error)_log\s+)(?P<path>/[^\s;]+)", re.M)

MAIN_CONF = """\
{user}worker_processes 1;
error_log {dir}/error.log info;
events {{
    worker_connections 512;
}}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/salon.conf;
}}
"""


class NginxError(RuntimeError):
    """nginx is missing, refused the configuration, or did not listen in time."""


def site_config(
    upstreams: Sequence[str], listen: str, source: Path = DEPLOY_CONF, logs: Path | None = None
) -> str:
    """The deployment file with its upstream servers, its `listen` and (into `logs`) its
    log files' directory replaced."""
    text = source.read_text()
    block = UPSTREAM_BLOCK.search(text)
    if block is None:
        raise NginxError(f"{source}: no `upstream salon_backend {{...}}` block")
    servers = list(UPSTREAM_SERVER.finditer(block["body"]))
    if len(servers) != len(upstreams):
        raise NginxError(
            f"{source}: the upstream has {len(servers)} servers, the test runs {len(upstreams)}"
        )
    body = block["body"]
    for match, address in reversed(list(zip(servers, upstreams, strict=True))):
        body = body[: match.start("address")] + address + body[match.end("address") :]
    text = text[: block.start("body")] + body + text[block.end("body") :]
    text, count = LISTEN.subn(lambda m: f"{m['head']}{listen};", text)
    if count != 1:
        raise NginxError(f"{source}: expected one `listen` directive, found {count}")
    if logs is not None:
        text = LOG_PATH.sub(lambda m: f"{m['head']}{logs / Path(m['path']).name}", text)
    return text


class NginxProcess:
    """`nginx -p DIR -c DIR/nginx.conf -g 'daemon off; pid DIR/nginx.pid;'` on a free port."""

    def __init__(self, workdir: Path, upstreams: Sequence[str], source: Path = DEPLOY_CONF) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.upstreams = list(upstreams)
        self.source = source
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.dir / name
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def command(self, *extra: str) -> list[str]:
        if not Path(NGINX).exists():
            raise NginxError(
                f"{NGINX} is missing (apt-get install -y nginx; scripts/test does):"
                " the deployment tests run it"
            )
        return [
            NGINX,
            "-p",
            f"{self.dir}/",
            "-c",
            str(self.dir / "nginx.conf"),
            "-e",
            str(self.dir / "error.log"),
            "-g",
            f"daemon off; pid {self.dir}/nginx.pid;",
            *extra,
        ]

    def write_config(self) -> None:
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers may then read DIR
        (self.dir / "nginx.conf").write_text(MAIN_CONF.format(user=user, dir=self.dir))
        site = site_config(self.upstreams, f"127.0.0.1:{self.port}", self.source, self.dir)
        (self.dir / "salon.conf").write_text(site)

    def start(self, timeout: float = 10.0) -> NginxProcess:
        """Check the configuration (`nginx -t`), start nginx and wait until it listens."""
        for attempt in range(3):
            self.port = free_port()
            self.write_config()
            checked = subprocess.run(
                self.command("-t"), capture_output=True, text=True, timeout=30, check=False
            )
            if checked.returncode != 0:
                raise NginxError(f"nginx -t refused the configuration:\n{checked.stderr}")
            with (self.dir / "stderr.log").open("ab") as log:
                self.proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its workers share its group: stop() ends them too
                )
            if self._wait_listening(timeout):
                return self
            self.stop()
            if "in use" not in self.error_log() or attempt == 2:
                raise NginxError(f"nginx did not listen on {self.port}:\n{self.error_log()}")
        raise AssertionError("unreachable")

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM (fast shutdown: open streams are cut); if nginx is still there after a
        few seconds, SIGKILL to its process group (the master and its workers)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
