"""The reads write rows as pydantic writes NotificationPublic, and reuse compiled statements."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import event

from app.core.security import Principal
from app.db.base import Base
from app.db.repositories.notifications import PUBLIC_FIELDS, list_query, unread_query
from app.db.session import create_engine
from app.schemas.notification import ListOptions, NotificationFilter, NotificationPublic
from app.services.notification_reads import public_json

AWKWARD_JSON: list[dict[str, Any] | None] = [
    None,
    {},
    {
        "floats": [1.0, 0.1, 1e16, 1e-7, 1e21, 1e22, 5e-324, 1.7976931348623157e308, -0.0],
        "ints": [2**64 - 1, -(2**63), 0],
        "text": 'é\u2028\x01"\\/\t\n😀<>&',
        "nested": [True, False, None, [{}], {"a": {"b": []}}],
    },
]


def _row(n: int, extra: dict[str, Any] | None, created: datetime) -> tuple[Any, ...]:
    delivered = created if n % 2 else None
    return (n, "t", "Tïtle\x7f", "m\x00sg", "customer", 5, None, "x", 2**63, n % 3 == 0,
            "high", created, extra, delivered)  # fmt: skip


def test_rows_are_written_as_pydantic_writes_notification_public():
    times = [datetime(2026, 12, 4, 22, 0, tzinfo=UTC), datetime(2026, 12, 4, 22, 0, 0, 1, UTC)]
    rows = [
        _row(n, extra, created)
        for n, (extra, created) in enumerate(
            (extra, created) for extra in AWKWARD_JSON for created in times
        )
    ]
    adapter = TypeAdapter(list[NotificationPublic])
    expected = adapter.dump_json(
        adapter.validate_python([dict(zip(PUBLIC_FIELDS, r, strict=True)) for r in rows])
    )
    assert public_json(rows) == expected  # type: ignore[arg-type]
    assert public_json([]) == b"[]"


async def test_each_shape_of_read_is_compiled_once(tmp_path: Path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    cache: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _note(_conn: Any, _cursor: Any, _sql: Any, _params: Any, context: Any, _many: Any) -> None:
        cache.append(context.cache_hit.name)

    picky = NotificationFilter(types=frozenset({"promo"}), min_priority="high")
    try:
        for user_id in (1, 2, 3):  # different principals and values: the same shapes
            customer = Principal(user_id, "customer", None, 0.0)
            queries = [
                list_query(customer, ListOptions(limit=50 + user_id)),
                list_query(customer, ListOptions(9, user_id, True, user_id, picky)),
                unread_query(customer),
            ]
            async with engine.connect() as connection:
                for statement, values in queries:
                    await connection.execute(statement, values)
    finally:
        await engine.dispose()
    assert cache == ["CACHE_MISS"] * 3 + ["CACHE_HIT"] * 6
