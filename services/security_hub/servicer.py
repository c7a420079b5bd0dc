"""The SecurityHub gRPC servicer: turns requests into verdicts and the key store's outages into
UNAVAILABLE, so callers fail closed instead of reading an outage as "invalid"."""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc
from pymongo.errors import ConnectionFailure, PyMongoError

from protos import security_hub_pb2, security_hub_pb2_grpc
from services.security_hub.permissions import PermissionChecker
from services.security_hub.tokens import TokenValidator

log = logging.getLogger(__name__)


def _abort_for_store(exc: PyMongoError, context: grpc.ServicerContext) -> NoReturn:
    if isinstance(exc, ConnectionFailure):  # timeouts and lost connections: worth a retry
        log.warning("credential store unavailable: %s", type(exc).__name__)
        context.abort(grpc.StatusCode.UNAVAILABLE, "the credential store is unavailable")
    log.error("credential store failed: %s", type(exc).__name__)
    context.abort(grpc.StatusCode.INTERNAL, "the credential store failed")


class SecurityHubServicer(security_hub_pb2_grpc.SecurityHubServicer):
    """Serves ValidateToken and CheckPermission; tokens never reach a log or an answer."""

    def __init__(self, tokens: TokenValidator, permissions: PermissionChecker) -> None:
        self._tokens = tokens
        self._permissions = permissions

    def ValidateToken(
        self, request: security_hub_pb2.ValidateTokenRequest, context: grpc.ServicerContext
    ) -> security_hub_pb2.ValidateTokenResponse:
        try:
            verdict = self._tokens.validate(request.token)
        except PyMongoError as exc:
            _abort_for_store(exc, context)
        if not verdict.valid:
            log.info("token refused: %s", verdict.reason)
            return security_hub_pb2.ValidateTokenResponse(valid=False, reason=verdict.reason)
        return security_hub_pb2.ValidateTokenResponse(
            valid=True,
            tenant_id=verdict.tenant_id,
            subject=verdict.subject,
            scopes=verdict.scopes or (),
            expires_at=verdict.expires_at,
            token_id=verdict.token_id,
            scope_claim_absent=verdict.scopes is None,
        )

    def CheckPermission(
        self, request: security_hub_pb2.CheckPermissionRequest, context: grpc.ServicerContext
    ) -> security_hub_pb2.CheckPermissionResponse:
        if not (request.tenant_id and request.subject and request.permission):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "tenant_id, subject and permission are required"
            )
        try:
            verdict = self._permissions.check(
                request.tenant_id, request.subject, request.permission
            )
        except PyMongoError as exc:
            _abort_for_store(exc, context)
        return security_hub_pb2.CheckPermissionResponse(
            allowed=verdict.allowed, reason=verdict.reason
        )
