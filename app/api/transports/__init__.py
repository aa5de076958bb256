"""The transports a StreamSession (app/streams/) writes through: the direct socket, an
ASGI SSE response, a WebSocket."""
