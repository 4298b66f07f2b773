"""Dropping a client connection without a response, to imitate a server that died mid-request."""

from __future__ import annotations

import asyncio
import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mailsift.testing.llm.recording import FINISH_SCOPE_KEY, RAW_SEND_SCOPE_KEY

logger = logging.getLogger(__name__)


class DroppedConnection(Response):
    """A response that aborts the TCP connection instead of sending anything.

    ASGI has no message for "close without answering", so this reaches for the transport of
    uvicorn's request cycle through the raw `send` bound method that RecordingMiddleware kept.
    """

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Limit: relies on uvicorn's `send` being a method of an object with a `transport`
        # attribute, checked with uvicorn 0.55 and the h11 protocol that the double selects.
        raw_send = scope.get(RAW_SEND_SCOPE_KEY)
        transport = getattr(getattr(raw_send, "__self__", None), "transport", None)
        if not isinstance(transport, asyncio.Transport):
            raise RuntimeError(
                "cannot drop the connection: the ASGI server does not expose its transport; "
                "run the double with uvicorn"
            )

        logger.info("dropping connection for %s %s as scripted", scope["method"], scope["path"])
        finish = scope.get(FINISH_SCOPE_KEY)
        if callable(finish):
            finish()
        transport.abort()

        # Returning before uvicorn has noticed the closed socket would make it try to send its
        # own 500, so wait until it reports the disconnect.
        while (await receive())["type"] != "http.disconnect":
            pass
