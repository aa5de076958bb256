"""A direct stream takes its socket over from uvicorn's HTTP protocol, and leaves nothing of
that protocol behind: the protocol and its parser refer to each other, and the service
freezes what survives its collections, so the pair (about 1 KiB) stayed with every open
stream for hours (tracemalloc over 3,000 streams: 3.8 KiB of Python objects each, 2.8 since).

In process (one uvicorn server on this test's loop) so that the test can hold the garbage
collector off and see what reference counting alone leaves."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from pathlib import Path

from app.core.security import create_token
from app.server import SalonHttpProtocol
from tests.utils.in_process import in_process_server

SECRET = "test-secret-for-the-protocol-test-0123456789"


async def test_a_stream_leaves_no_http_protocol_behind(tmp_path: Path) -> None:
    # No collection of the service's own during the test.
    server = in_process_server(tmp_path, SECRET, gc_full_collect_interval=3600)
    writer = None
    async with server as port:
        try:
            token = create_token(
                user_id=7,
                role="customer",
                salon_id=None,
                secret=SECRET,
                expires_in=timedelta(minutes=5),
            )
            gc.disable()  # what remains now is what reference counting did not free
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"GET /api/v1/notifications/customer/stream HTTP/1.1\r\nHost: test\r\n"
                b"Authorization: Bearer " + token.encode() + b"\r\n\r\n"
            )
            received = b""
            async with asyncio.timeout(10):
                while b"event: connected" not in received:
                    received += await reader.read(4096)
            assert b"200 OK" in received.split(b"\r\n", 1)[0]
            await asyncio.sleep(0.05)
            left = [o for o in gc.get_objects() if isinstance(o, SalonHttpProtocol)]
            assert left == [], "the stream's socket still has its HTTP protocol alive"
        finally:
            gc.enable()
            if writer is not None:
                writer.close()
