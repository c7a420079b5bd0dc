"""A Twilio-compatible Messages API as a real local HTTP server.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From`` and
``Body``, HTTP Basic auth ``AccountSid:AuthToken``: answered 201 with a message resource as
Twilio's (``sid``, ``status: queued``, ``to``, ``from``, ``body``…); a wrong credential is 401
(Twilio's error 20003), a missing field 400 (21604 / 21603 / 21602)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs

MISSING = {"To": 21604, "From": 21603, "Body": 21602}


class SmsApi:
    def __init__(self) -> None:
        self.sid = "AC" + secrets.token_hex(16)
        self.token = secrets.token_hex(16)
        self.sender = "+15550000000"
        self.messages: list[dict[str, str]] = []
        self._arrived = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                expected = "Basic " + base64.b64encode(f"{fake.sid}:{fake.token}".encode()).decode()
                if self.path != f"/2010-04-01/Accounts/{fake.sid}/Messages.json":
                    return self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                if self.headers.get("authorization") != expected:
                    return self._answer(
                        401, {"code": 20003, "message": "Authenticate", "status": 401}
                    )
                if not self.headers.get("content-type", "").startswith(
                    "application/x-www-form-urlencoded"
                ):
                    return self._answer(400, {"code": 20001, "message": "form", "status": 400})
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                for field, code in MISSING.items():
                    if not form.get(field):
                        return self._answer(
                            400, {"code": code, "message": f"{field} is required", "status": 400}
                        )
                with fake._arrived:
                    fake.messages.append(form)
                    fake._arrived.notify_all()
                sid = "SM" + secrets.token_hex(16)
                now = formatdate(usegmt=True)
                self._answer(
                    201,
                    {
                        "sid": sid,
                        "account_sid": fake.sid,
                        "to": form["To"],
                        "from": form["From"],
                        "body": form["Body"],
                        "status": "queued",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "date_created": now,
                        "date_updated": now,
                        "date_sent": None,
                        "num_segments": "1",
                        "error_code": None,
                        "error_message": None,
                        "uri": f"/2010-04-01/Accounts/{fake.sid}/Messages/{sid}.json",
                    },
                )

            def _answer(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def env(self) -> dict[str, str]:
        """The settings that send Parley's alert SMS here."""
        return {
            "PARLEY_SMS_BASE_URL": f"http://127.0.0.1:{self.port}",
            "PARLEY_SMS_ACCOUNT_SID": self.sid,
            "PARLEY_SMS_AUTH_TOKEN": self.token,
            "PARLEY_SMS_FROM": self.sender,
        }

    def to(self, number: str) -> list[dict[str, str]]:
        with self._arrived:
            return [m for m in self.messages if m["To"] == number]

    def wait_for(self, number: str, count: int, timeout: float = 60.0) -> list[dict[str, str]]:
        with self._arrived:
            self._arrived.wait_for(
                lambda: len([m for m in self.messages if m["To"] == number]) >= count, timeout
            )
        got = self.to(number)
        assert len(got) >= count, f"{len(got)} of {count} SMS to {number} arrived"
        return got

    def __enter__(self) -> SmsApi:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
