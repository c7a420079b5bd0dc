"""The platform the browser tests run against, and what a test does to it beside the browser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from processes import ProcessGroup, wait_for_workers, wait_http_ok

from core.settings import Settings
from core.tokens import mint_token


@dataclass
class Platform:
    """The running platform, its seeded tenant and widget, and what tests need to reach them."""

    base: str
    port: int
    group: ProcessGroup
    env: dict[str, str]
    tenant: str
    widget_id: str
    settings: Settings

    def headers(self) -> dict[str, str]:
        """The tenant's bearer token, for the API calls a test makes beside the browser."""
        token = mint_token(self.settings.require_jwt_secret(), self.tenant, "browser", 600)
        return {"Authorization": f"Bearer {token}"}

    def demo_url(self) -> str:
        return f"{self.base}/demo"

    def stop_ingress(self) -> None:
        self.group.stop("ingress")

    def start_ingress(self) -> None:
        """The ingress again on the same port, so the widget's sockets reconnect to it."""
        self.group.start("ingress", "ingress", "--port", str(self.port), env=self.env)
        wait_http_ok(f"{self.base}/health/ready", self.group)

    def stop_worker(self, queue: str) -> None:
        self.group.stop(f"worker-{queue}")

    def start_worker(self, queue: str) -> None:
        self.group.start(f"worker-{queue}", "worker", queue, "--concurrency", "1", env=self.env)
        wait_for_workers(self.group)

    def get(self, path: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.base}{path}", headers=self.headers(), timeout=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body
