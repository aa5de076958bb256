"""`salon serve --workers N`: processes sharing one port, each an instance of the deployment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.utils.factories import API, connect
from tests.utils.redis_server import REDIS_URL
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream
from tests.utils.stats import wait_for_stats


class WorkersServer(ServerProcess):
    def command(self) -> list[str]:
        return [*super().command(), "--workers", "2"]


async def test_two_workers_share_the_port_and_every_stream_gets_its_notifications(server):
    env = {
        **server.overrides,
        "BROKER_URL": REDIS_URL,
        "BROKER_PREFIX": f"test-{uuid.uuid4().hex[:12]}",
        "PRESENCE_INTERVAL": "0.2",
        "LIMIT_STREAMS_PER_PRINCIPAL": "0",  # up to 40 streams of one admin, below
    }
    workers = WorkersServer(env, workdir=server.workdir / f"workers-{uuid.uuid4().hex[:6]}")
    await workers.astart(timeout=40)
    try:
        async with connect(workers) as api:
            await api.ensure_superadmin()
            salon = await api.create_salon()
            admin = await api.create_admin(salon.id)
            # The kernel hands each connection to whichever worker accepts first: usually
            # both get some of 8, not always (a loaded machine): then 8 more, up to 40.
            streams, opened = [], []
            while len(opened) < 40:
                batch = [
                    open_stream(api.client, f"{API}/notifications/stream", token=admin.token)
                    for _ in range(8)
                ]
                streams += batch
                opened += [await s.__aenter__() for s in batch]
                for stream in opened[-8:]:
                    await stream.next_event()
                # Both workers announce their streams.
                wanted = len(opened)
                stats = await wait_for_stats(
                    api, lambda stats, n=wanted: stats["active_admin_connections"] == n, 10
                )
                if len(stats["instances"]) == 2:
                    break
            try:
                assert len(stats["instances"]) == 2, "the kernel spread 40 streams on 2 workers"
                note = await api.notify(admin.token, recipient_type="salon")
                for stream in opened:
                    assert int((await stream.next_notification()).id) == note.id
            finally:
                for s in streams:
                    await s.__aexit__(None, None, None)
    finally:
        await workers.astop()


def test_workers_need_a_shared_broker(server):
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2"],
        env={**os.environ, "DATABASE_URL": server.database_url, "BROKER_URL": "memory://"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=server.workdir,
    )
    assert result.returncode == 2
    assert "BROKER_URL=redis://" in result.stderr
