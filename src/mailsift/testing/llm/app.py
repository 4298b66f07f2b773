"""The ASGI application of the double: routes, JSON parsing and the scheduler's lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mailsift.testing.llm.chat import ChatHandler
from mailsift.testing.llm.connection import DroppedConnection
from mailsift.testing.llm.protocol import Flavour
from mailsift.testing.llm.recording import RecordingMiddleware
from mailsift.testing.llm.replies import models_body
from mailsift.testing.llm.state import DoubleState
from mailsift.testing.llm.timing import BatchScheduler

logger = logging.getLogger(__name__)


def create_app(state: DoubleState) -> ASGIApp:
    """Build the ASGI app that serves `state`'s configuration.

    Routes: GET /health, GET /v1/models and POST /v1/chat/completions. The batching
    scheduler runs on the app's event loop between lifespan start-up and shutdown, so the
    ASGI server must run the lifespan protocol.
    """
    config = state.config
    scheduler = BatchScheduler(config.timing)
    chat = ChatHandler(state, scheduler)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        scheduler.start()
        logger.info("LLM server double (%s, model %s) ready", config.flavour, config.model)
        try:
            yield
        finally:
            await scheduler.stop()

    async def health(_: Request) -> Response:
        # vLLM answers with an empty 200; llama-server with a status object.
        if config.flavour is Flavour.VLLM:
            return Response(status_code=200)
        return JSONResponse({"status": "ok"})

    async def list_models(_: Request) -> Response:
        return JSONResponse(
            models_body(config.flavour, config.model, config.max_model_len, created)
        )

    async def chat_completions(request: Request) -> Response:
        outcome = await chat.complete(await request.body(), dict(request.headers))
        if outcome.body is None:
            return DroppedConnection()
        return JSONResponse(outcome.body, status_code=outcome.status_code, headers=outcome.headers)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    return RecordingMiddleware(app, state.requests)
