"""OTLP partial-success replies, for tests of clients that must not ignore them.

The real Langfuse server never sends a partial success (it returns 200 with a JSON queue
job, or rejects the whole export). Other OTLP backends do, and the OTLP/HTTP
specification puts the rejected span count in an `ExportTraceServiceResponse` encoded
like the request, so the double offers it as a scripted fault.
"""

from __future__ import annotations

from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.responses import Response


def partial_success_response(
    rejected_spans: int, message: str, request_content_type: str
) -> Response:
    """Build a 200 reply that reports `rejected_spans` rejected spans, encoded like the request."""
    reply = ExportTraceServiceResponse()
    reply.partial_success.rejected_spans = rejected_spans
    reply.partial_success.error_message = message

    if "application/x-protobuf" in request_content_type.lower():
        return Response(reply.SerializeToString(), 200, media_type="application/x-protobuf")
    return Response(MessageToJson(reply, indent=None), 200, media_type="application/json")
