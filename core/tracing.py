"""OpenTelemetry traces, off unless ``PARLEY_OTLP_ENDPOINT`` is set: one trace per turn, from the
webhook or API request through each Celery task (the trace context rides in the task's
headers), the engine's gRPC call and the provider's HTTP call.

Each process calls ``configure`` once it is what it will be (the ingress in its app, a prefork
worker child on ``worker_process_init``, the engine at start): the span exporter runs a thread,
and a thread made before a fork does not survive it. The instrumentation libraries are
OpenTelemetry's own (Celery, gRPC, HTTPX, ASGI), so the spans and their attributes are the
semantic conventions every trace backend reads.
"""

from __future__ import annotations

import logging
import threading

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from core.settings import get_settings

log = logging.getLogger("parley.tracing")

_lock = threading.Lock()
_configured: set[str] = set()


def enabled() -> bool:
    return get_settings().otlp_endpoint is not None


def configure(service: str, exporter: SpanExporter | None = None) -> bool:
    """Trace this process as ``service`` (``parley-ingress``, ``parley-worker``,
    ``parley-engine``); True if traces are on. ``exporter`` replaces the OTLP one (tests give
    the SDK's in-memory exporter)."""
    endpoint = get_settings().otlp_endpoint
    if exporter is None and endpoint is None:
        return False
    with _lock:
        if service in _configured:
            return True
        _configured.add(service)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter or OTLPSpanExporter(endpoint=f"{str(endpoint).rstrip('/')}/v1/traces")
        )
    )
    trace.set_tracer_provider(provider)
    _instrument()
    log.info("tracing to %s as %s", endpoint or "a given exporter", service)
    return True


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    for instrumentor in (
        CeleryInstrumentor(),  # type: ignore[no-untyped-call]
        GrpcInstrumentorClient(),  # type: ignore[no-untyped-call]
        GrpcInstrumentorServer(),  # type: ignore[no-untyped-call]
        HTTPXClientInstrumentor(),
    ):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
