"""The double's ASGI application: routing, body reading, recording and scripted faults.

Every request goes through the same steps. The body is read and counted against the
route's size limit, the request is recorded in the journal, and any injected latency is
waited out. Then the next scripted fault for the path applies, or the route handler runs.
Unknown paths get an HTML 404 page, as Next.js serves one, so a client with a wrong base
path meets a non-JSON error body just as it would in production.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mailsift.testing.langfuse import ingest_routes, read_routes
from mailsift.testing.langfuse.config import (
    HEALTH_PATH,
    INGESTION_PATH,
    OBSERVATIONS_PATH,
    OBSERVATIONS_V2_PATH,
    OTLP_TRACES_PATH,
    READY_PATH,
    TRACES_PATH,
)
from mailsift.testing.langfuse.faults import DropConnection, RejectEvents, ScriptedReply
from mailsift.testing.langfuse.journal import RecordedRequest
from mailsift.testing.langfuse.state import DoubleState

logger = logging.getLogger(__name__)

Handler = Callable[[Request, bytes, bool, RejectEvents | None], Awaitable[Response]]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Bodies over the limit are still read to the end (and discarded) so that the client can
# finish sending and read the 413, instead of failing with a broken pipe mid-upload.
_MAX_DRAIN_BYTES = 256 * 1024 * 1024
_NOT_FOUND_PAGE = (
    "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head>"
    "<body><h1>404</h1><h2>This page could not be found.</h2></body></html>"
)


def create_app(state: DoubleState) -> Starlette:
    """Build the Starlette app that serves one double's state."""

    def route(path: str, handler: Handler, limit: int | None = None) -> Route:
        async def endpoint(request: Request) -> Response:
            return await _serve(request, state, handler, limit)

        return Route(path, endpoint, methods=ALL_METHODS)

    async def ingestion(
        request: Request, body: bytes, too_large: bool, rejection: RejectEvents | None
    ) -> Response:
        return await ingest_routes.ingestion(request, body, too_large, state, rejection)

    async def otlp(
        request: Request, body: bytes, too_large: bool, rejection: RejectEvents | None
    ) -> Response:
        if too_large:
            # Only a proxy limit set for the test (max_otlp_body_bytes) can trigger this.
            page = "<html><body><h1>413 Request Entity Too Large</h1></body></html>"
            return HTMLResponse(page, status_code=413)
        return await ingest_routes.otlp_traces(request, body, state, rejection)

    def reader(handler: Callable[[Request, DoubleState], Awaitable[Response]]) -> Handler:
        async def read(
            request: Request, body: bytes, too_large: bool, rejection: RejectEvents | None
        ) -> Response:
            return await handler(request, state)

        return read

    routes = [
        route(INGESTION_PATH, ingestion, state.config.max_body_bytes),
        route(OTLP_TRACES_PATH, otlp, state.config.max_otlp_body_bytes),
        route(HEALTH_PATH, reader(read_routes.health)),
        route(READY_PATH, reader(read_routes.health)),
        route(TRACES_PATH, reader(read_routes.list_traces)),
        route(TRACES_PATH + "/{trace_id}", reader(read_routes.get_trace)),
        route(OBSERVATIONS_PATH, reader(read_routes.list_observations_v1)),
        route(OBSERVATIONS_V2_PATH, reader(read_routes.list_observations_v2)),
        route("/{path:path}", _not_found),
    ]
    return Starlette(routes=routes)


async def _not_found(
    request: Request, body: bytes, too_large: bool, rejection: RejectEvents | None
) -> Response:
    return HTMLResponse(_NOT_FOUND_PAGE, status_code=404)


async def _serve(
    request: Request, state: DoubleState, handler: Handler, limit: int | None
) -> Response:
    body, too_large = await _read_body(request, limit)
    headers = {key: value for key, value in request.headers.items() if key != "authorization"}
    state.journal.record_request(
        RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=headers,
            body=body,
            received_at=state.wall_clock(),
        )
    )

    latency_s = state.faults.take_latency_s(request.url.path)
    if latency_s > 0:
        await asyncio.sleep(latency_s)

    fault = state.faults.take(request.url.path)
    if isinstance(fault, ScriptedReply):
        logger.debug("Langfuse double: scripted %d for %s", fault.status, request.url.path)
        return Response(
            fault.body, fault.status, headers=dict(fault.headers), media_type=fault.content_type
        )
    if isinstance(fault, DropConnection):
        if fault.process_first:
            await handler(request, body, too_large, None)
        await _drop_connection(request, state)
        # uvicorn sends nothing more once the transport is gone.
        return Response(status_code=204)
    return await handler(request, body, too_large, fault)


async def _read_body(request: Request, limit: int | None) -> tuple[bytes, bool]:
    """Read the body; return (body, whether it exceeded `limit`)."""
    declared = request.headers.get("content-length", "")
    too_large = limit is not None and declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if limit is not None and size > limit:
            too_large = True
        if not too_large:
            chunks.append(chunk)
        if size > _MAX_DRAIN_BYTES:
            break
    return b"".join(chunks), too_large


async def _drop_connection(request: Request, state: DoubleState) -> None:
    client = request.scope.get("client")
    transport = state.connections.get(tuple(client)) if client else None
    if transport is None:
        logger.warning("Langfuse double: no transport found for %s; cannot drop it", client)
        return
    transport.abort()
    # Let the protocol see connection_lost before the handler returns, so uvicorn does
    # not try to send a 500 for the missing response.
    for _ in range(3):
        await asyncio.sleep(0)
