"""``parley tenants …`` and ``parley keys …``: the admin API's operations from a shell.

They use the same repositories and input models as ``/v1/admin/tenants…``, so a CLI call is
refused exactly where the API call would be. A key's plaintext is printed once, by ``issue``
and ``rotate``, and never again.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import NotFound, ParleyError


@contextmanager
def _database() -> Iterator[Any]:
    from core.settings import get_settings
    from storage.mongo import connect, database, ensure_indexes

    settings = get_settings()
    client = connect(settings)
    try:
        db = database(client, settings)
        ensure_indexes(db)
        yield db
    finally:
        client.close()


def _validated(model: Any, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ParleyError(f"{where}: {first['msg']}" if where else first["msg"]) from None


def _settings_arg(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParleyError(f"--settings must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise ParleyError("--settings must be a JSON object")
    return parsed


def tenants(args: argparse.Namespace) -> int:
    from ingress.api_models import TenantView, json_of
    from ingress.tenants_admin import TenantIn, TenantPatch, settings_of
    from storage.tenants import TenantRepository

    with _database() as db:
        repo = TenantRepository(db)
        if args.action == "create":
            body = {"id": args.tenant_id, "name": args.name, **_settings_arg(args.settings)}
            payload = _validated(TenantIn, body)
            docs = [repo.create(payload.id, payload.name, settings_of(payload))]
        elif args.action == "list":
            docs = repo.list(None, 10_000)
        elif args.action == "show":
            docs = [repo.require(args.tenant_id)]
        else:
            body = _settings_arg(getattr(args, "settings", None))
            if args.action in ("disable", "enable"):
                body = {"state": "disabled" if args.action == "disable" else "active"}
            docs = [repo.update(args.tenant_id, settings_of(_validated(TenantPatch, body)))]
    for doc in docs:
        print(json.dumps(json_of(TenantView.model_validate(doc))))
    return 0


def keys(args: argparse.Namespace) -> int:
    from ingress.api_models import ApiKeyView, IssuedApiKey, json_of
    from ingress.keys_admin import ApiKeyIn
    from storage.credentials import ApiKeyRepository
    from storage.tenants import TenantRepository

    with _database() as db:
        repo = ApiKeyRepository(db)
        lines: list[dict[str, Any]]
        if args.action == "issue":
            payload = _validated(ApiKeyIn, {"name": args.name, "scopes": args.scope})
            TenantRepository(db).require(args.tenant)
            doc, plaintext = repo.issue(args.tenant, payload.name, list(payload.scopes))
            lines = [json_of(IssuedApiKey.of(doc, plaintext))]
        elif args.action == "list":
            lines = [json_of(ApiKeyView.model_validate(doc)) for doc in repo.list(args.tenant)]
        elif args.action == "rotate":
            doc, plaintext = repo.rotate(args.tenant, args.key_id)
            lines = [json_of(IssuedApiKey.of(doc, plaintext))]
        else:
            if not repo.revoke(args.tenant, args.key_id):
                raise NotFound(f"api key {args.key_id} not found")
            lines = [{"id": args.key_id, "state": "revoked"}]
    for line in lines:
        print(json.dumps(line))
    return 0


def add_parsers(sub: Any) -> None:
    """Adds ``tenants`` and ``keys`` to the ``parley`` parser's subcommands."""
    from core.scopes import TENANT_SCOPES

    tenant_cmd = sub.add_parser("tenants", help="create, list, update and disable tenants")
    tenant_sub = tenant_cmd.add_subparsers(dest="action", required=True)
    create = tenant_sub.add_parser("create", help="a new active tenant")
    create.add_argument("tenant_id", metavar="TENANT_ID", help="the new tenant's id")
    create.add_argument("--name", required=True, help="the tenant's display name")
    create.add_argument(
        "--settings", help='JSON, e.g. {"rate_limits": {"per_second": 10, "burst": 20}}'
    )
    tenant_sub.add_parser("list", help="every tenant, one JSON object a line")
    for action, text in (
        ("show", "one tenant"),
        ("disable", "refuse all of the tenant's traffic, webhooks included"),
        ("enable", "serve the tenant again"),
    ):
        tenant_sub.add_parser(action, help=text).add_argument(
            "tenant_id", metavar="TENANT_ID", help="the tenant"
        )
    update = tenant_sub.add_parser("update", help="change name or settings (JSON)")
    update.add_argument("tenant_id", metavar="TENANT_ID", help="the tenant")
    update.add_argument("--settings", required=True, help="JSON, as PATCH /v1/admin/tenants/{id}")
    tenant_cmd.set_defaults(func=tenants)

    key_cmd = sub.add_parser("keys", help="issue, list, rotate and revoke a tenant's API keys")
    key_sub = key_cmd.add_subparsers(dest="action", required=True)
    issue = key_sub.add_parser("issue", help="a new key; its plaintext is printed once")
    issue.add_argument("--tenant", required=True, help="the tenant the key speaks for")
    issue.add_argument("--name", required=True, help="what the key is for (shown in listings)")
    issue.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=sorted(TENANT_SCOPES),
        default=None,
        help="a scope the key grants (repeat for more)",
    )
    key_sub.add_parser("list", help="the tenant's keys, never their secrets").add_argument(
        "--tenant", required=True, help="the tenant"
    )
    for action, text in (
        ("rotate", "a new key with the old one's name and scopes; the old one is revoked"),
        ("revoke", "refuse the key from the next request on"),
    ):
        action_parser = key_sub.add_parser(action, help=text)
        action_parser.add_argument("--tenant", required=True, help="the key's tenant")
        action_parser.add_argument("key_id", metavar="KEY_ID", help="the key")
    key_cmd.set_defaults(func=keys)
