"""S5's servers: `writers` instances of the product on one PostgreSQL database and one
Redis (the first creates, seeds and drops the database; the others share it, its broker
prefix and its secret), and an observer instance on the same two that no client talks to:
it hears every notification on the channel and has no stream to give it to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.servers import SERVER_CORE, Server


class Cluster:
    def __init__(
        self,
        writers: int,
        workdir: Path,
        accounts: tuple[int, int],
        stack: str,
        ping: float,
        core: str = SERVER_CORE,
        observer: bool = True,
    ) -> None:
        def instance(leader: Server | None) -> Server:
            return Server(
                "product", "postgres", "redis", ping, workdir, accounts, stack, leader, core
            )

        self.leader = instance(None)
        self.writers = [self.leader] + [instance(self.leader) for _ in range(writers - 1)]
        self.observer = instance(self.leader) if observer else None
        self.label = f"{writers} x {self.leader.label}"

    @property
    def servers(self) -> list[Server]:
        return self.writers + ([self.observer] if self.observer else [])

    def start(self) -> None:
        for server in self.servers:  # the leader first: it makes the database
            server.start()

    def stop(self) -> None:
        for server in reversed(self.servers):  # the leader last: it drops the database
            server.stop()

    def spec(self) -> dict[str, Any]:
        """What the load generator needs to drive and measure them."""
        assert self.leader.accounts is not None
        return {
            "target": "product",
            "port": self.leader.port,
            "server_pid": self.leader.pid,
            "instances": [{"port": s.port, "pid": s.pid} for s in self.writers],
            "observer": {"port": self.observer.port, "pid": self.observer.pid}
            if self.observer
            else None,
            "accounts": self.leader.accounts.as_json(),
        }
