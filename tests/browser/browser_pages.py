"""What the browser tests serve and watch: host sites on origins of their own, and page errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import ConsoleMessage, Error, Page


class StaticSite:
    """An HTTP server on 127.0.0.1 serving fixed HTML pages: one origin, like a tenant's site."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the tests' output is for failures

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return self.origin + path

    @contextmanager
    def serving(self) -> Iterator[StaticSite]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def embed_page(ingress: str, widget_id: str) -> str:
    """A tenant's page with the widget's one embed tag, as the README tells tenants to write it."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Shop</title></head>"
        "<body><h1>A shop</h1><a href='#top'>Top</a>"
        f'<script src="{ingress}/widget.js" data-widget="{widget_id}" async></script>'
        "</body></html>"
    )


class PageErrors:
    """Uncaught errors (and console errors, for the record) of every page it watches."""

    def __init__(self) -> None:
        self.uncaught: list[str] = []
        self.console: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)
        return page

    def _on_page_error(self, error: Error) -> None:
        self.uncaught.append(f"{error.name}: {error.message}\n{error.stack or ''}")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)
