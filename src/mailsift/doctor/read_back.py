"""Read a trace back from Langfuse, by the route its write path makes it visible on.

- Legacy batch ingestion writes the v3 tables: `GET /api/public/traces/{id}`.
- OTLP on a v4 server writes the events table: `GET /api/public/v2/observations?traceId=`.
  A server in legacy mode has no v2 route unless its preview opt-in is on, and OTLP sent
  there without the v4 ingestion header lands in the v3 tables. So a "v2 API is only
  available in a v4 write mode" 404 switches the reads to the v1 route.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from mailsift.doctor.langfuse_checks import KEYS_HINT, OBSERVATIONS_V2_PATH, TRACES_PATH
from mailsift.telemetry.config import IngestionPath, LangfuseConfig
from mailsift.telemetry.exporters.base import make_http_client, server_message
from mailsift.telemetry.exporters.legacy_events import iso

logger = logging.getLogger(__name__)

# Substrings of the 404 bodies that mean "this route does not exist in this write mode".
_V2_MISSING_MARKER = "only available in a Langfuse v4 write mode"
_V1_MISSING_MARKER = "events_only"


@dataclass(frozen=True, slots=True)
class PollVerdict:
    visible: bool = False
    failure: str | None = None
    """Set when polling again cannot help, such as rejected credentials."""
    hint: str | None = None


class ReadBack:
    def __init__(
        self,
        config: LangfuseConfig,
        path: IngestionPath,
        trace_id: str,
        not_before: datetime,
    ) -> None:
        self._http = make_http_client(config, None)
        self._trace_id = trace_id
        self._not_before = iso(not_before)
        self._use_v2 = path is IngestionPath.OTLP
        # The route changes at most once, so a server whose two routes both claim to be
        # missing cannot make poll() recurse without end.
        self._may_switch = True
        self.last_answer = "no read yet"

    @property
    def route(self) -> str:
        if self._use_v2:
            return f"{OBSERVATIONS_V2_PATH}?traceId={self._trace_id}"
        return f"{TRACES_PATH}/{self._trace_id}"

    def poll(self, timeout_s: float) -> PollVerdict:
        """Read the trace once within `timeout_s`. A trace that is not visible yet is no failure."""
        try:
            response = self._get(timeout_s)
        except httpx.HTTPError as exc:
            # A restarting server or a dropped connection may recover before the deadline.
            self.last_answer = f"GET {self.route} failed: {type(exc).__name__}: {exc}"
            return PollVerdict()

        status = response.status_code
        if status == 404 and self._may_switch:
            marker = _V2_MISSING_MARKER if self._use_v2 else _V1_MISSING_MARKER
            if marker in server_message(response):
                self._may_switch = False
                self._use_v2 = not self._use_v2
                logger.info("doctor: that read route is missing; reading from %s", self.route)
                return self.poll(timeout_s)
        if status in (401, 403):
            return PollVerdict(
                failure=f"GET {self.route} answered {status}: {server_message(response)}",
                hint=KEYS_HINT if status == 401 else "use a key pair with read access",
            )
        if response.is_success and self._contains_trace(response):
            return PollVerdict(visible=True)

        self.last_answer = f"GET {self.route} answered {status}" + (
            " with no rows" if response.is_success else f": {server_message(response)}"
        )
        return PollVerdict()

    def _get(self, timeout_s: float) -> httpx.Response:
        if self._use_v2:
            return self._http.get(
                OBSERVATIONS_V2_PATH,
                params={"traceId": self._trace_id, "fromStartTime": self._not_before, "limit": 10},
                timeout=timeout_s,
            )
        return self._http.get(f"{TRACES_PATH}/{self._trace_id}", timeout=timeout_s)

    def _contains_trace(self, response: httpx.Response) -> bool:
        try:
            body: Any = response.json()
        except ValueError:
            return False
        if not isinstance(body, dict):
            return False
        if not self._use_v2:
            return body.get("id") == self._trace_id
        rows = body.get("data")
        return isinstance(rows, list) and any(
            isinstance(row, dict) and row.get("traceId") == self._trace_id for row in rows
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
