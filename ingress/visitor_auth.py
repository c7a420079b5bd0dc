"""Who a visitor request or socket speaks for: a visitor token checked, and its widget found,
enabled and open to the request's origin (docs/widget-protocol.md)."""

from __future__ import annotations

from core.errors import InvalidToken
from core.visitor_tokens import Visitor, verify_visitor_token
from ingress.problems import Problem
from ingress.state import IngressState
from storage.widgets import WidgetDocument


def authenticate_visitor(
    state: IngressState, token: str, origin: str
) -> tuple[Visitor, WidgetDocument]:
    """The visitor and its widget; Problem 401 for a bad or expired token (or one whose widget
    is gone), 403 for an origin the widget does not allow or a disabled widget."""
    settings = state.settings
    try:
        visitor = verify_visitor_token(
            settings.require_jwt_secret(), token, settings.jwt_leeway_seconds
        )
    except InvalidToken as exc:
        raise Problem(401, "unauthorized", "Unauthorized", exc.reason) from None
    widget = state.widgets.find(visitor.widget_id)
    if widget is None or widget.get("tenant_id") != visitor.tenant_id:
        raise Problem(401, "unauthorized", "Unauthorized", "the visitor token is not valid")
    if origin not in widget.get("allowed_origins", []):
        raise Problem(403, "origin-not-allowed", "Origin not allowed", "not an allowed origin")
    if not widget.get("enabled"):
        raise Problem(403, "widget-disabled", "Widget disabled", "the widget is disabled")
    return visitor, widget
