"""Teams' two bearer tokens: the Bot Connector's JWT on every inbound activity, and the bot's
own client-credentials token for sending.

Inbound failures of any kind (a bad token, unreachable key endpoints) are ``VerificationFailed``;
outbound token failures are ``SendFailed``/``RateLimited`` (worth retrying) or ``SendRejected``
(the app id or password is wrong).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from channels.base import RateLimited, SendFailed, SendRejected, VerificationFailed
from channels.runtime import ChannelRuntime
from core.envelopes import ChannelConfig
from core.retry_after import retry_after_seconds

ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
DEFAULT_TENANT = "botframework.com"  # multi-tenant bots; single-tenant bots name their tenant
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
CLOCK_SKEW_SECONDS = 300
KEYS_TTL_SECONDS = 24 * 3600
# An unknown kid refetches the key set, but at most this often: forged kids must not turn
# every request into a fetch from Microsoft.
KEY_REFRESH_INTERVAL_SECONDS = 300
TOKEN_EARLY_EXPIRY_SECONDS = 300


@dataclass(frozen=True)
class _Metadata:
    jwks_uri: str
    algorithms: tuple[str, ...]


@dataclass(frozen=True)
class ConnectorToken:
    """What a verified Bot Connector JWT vouches for, to hold the activity it came with to."""

    service_url: Any  # the ``serviceurl`` claim, as found
    endorsements: tuple[str, ...] | None  # channels its key is endorsed for; None: any


def verify_bearer(authorization: str, app_id: str, runtime: ChannelRuntime) -> ConnectorToken:
    """Raise VerificationFailed unless ``authorization`` is a Bot Connector JWT for ``app_id``
    signed by a key the Bot Framework publishes. It needs no body: a forged token is refused
    before the activity is even parsed."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise VerificationFailed("missing bearer token")
    if not app_id:
        raise VerificationFailed("the channel config has no bot app id")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise VerificationFailed("malformed bearer token") from exc
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in _metadata(runtime).algorithms or not isinstance(kid, str):
        raise VerificationFailed("token algorithm or key id not acceptable")
    jwk = _signing_key(kid, runtime)
    try:
        claims = jwt.decode(
            token,
            jwt.PyJWK(dict(jwk)).key,
            algorithms=[algorithm],
            audience=app_id,
            issuer=ISSUER,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise VerificationFailed("bearer token is not valid") from exc
    return ConnectorToken(claims.get("serviceurl"), _endorsements(jwk))


def _endorsements(jwk: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The channels a key is endorsed for; None when it names none (any channel)."""
    endorsed = jwk.get("endorsements")
    if endorsed is None:
        return None
    if not isinstance(endorsed, list):  # endorsements that are no list endorse nothing
        return ()
    return tuple(channel for channel in endorsed if isinstance(channel, str))


def verify_activity(token: ConnectorToken, activity: Mapping[str, Any]) -> None:
    """Raise VerificationFailed unless the verified token names this activity's ``serviceUrl``
    and its key is endorsed for the activity's channel."""
    channel_id = activity.get("channelId")
    if token.endorsements is not None and (
        not isinstance(channel_id, str) or channel_id not in token.endorsements
    ):
        raise VerificationFailed("signing key is not endorsed for the activity's channel")
    claimed, actual = token.service_url, activity.get("serviceUrl")
    if not (isinstance(claimed, str) and isinstance(actual, str)) or not hmac.compare_digest(
        claimed.encode(), actual.encode()
    ):
        raise VerificationFailed("token serviceurl does not match the activity")


def _metadata(runtime: ChannelRuntime) -> _Metadata:
    url = runtime.urls.teams_openid_metadata
    metadata: _Metadata = runtime.cache.get_or_load_timed(
        f"teams:openid:{url}", lambda: (_fetch_metadata(url, runtime), KEYS_TTL_SECONDS)
    )
    return metadata


def _signing_key(kid: str, runtime: ChannelRuntime) -> Mapping[str, Any]:
    """The JWK named ``kid``; the cached set is refetched once if it does not know it."""
    cache_key = f"teams:jwks:{runtime.urls.teams_openid_metadata}"

    def load() -> tuple[dict[str, Mapping[str, Any]], float]:
        return _fetch_keys(_metadata(runtime).jwks_uri, runtime), KEYS_TTL_SECONDS

    jwk: Mapping[str, Any] | None = runtime.cache.get_or_load_timed(cache_key, load).get(kid)
    if jwk is None and _may_refresh_keys(runtime):
        # Fetched before the cached set is replaced: a refetch that fails (a forged kid while
        # the key endpoint is down) leaves the good keys in place.
        keys, ttl = load()
        runtime.cache.put(cache_key, keys, ttl)
        jwk = keys.get(kid)
    if jwk is None:
        raise VerificationFailed("token signed by an unknown key")
    return jwk


def _may_refresh_keys(runtime: ChannelRuntime) -> bool:
    granted = False

    def grant() -> tuple[bool, float]:
        nonlocal granted
        granted = True
        return True, KEY_REFRESH_INTERVAL_SECONDS

    runtime.cache.get_or_load_timed(
        f"teams:jwks-refresh:{runtime.urls.teams_openid_metadata}", grant
    )
    return granted


def _fetch_metadata(url: str, runtime: ChannelRuntime) -> _Metadata:
    document = _get_json(url, runtime)
    advertised = document.get("id_token_signing_alg_values_supported") or RSA_ALGORITHMS
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not isinstance(advertised, list | tuple):
        raise VerificationFailed("the OpenID metadata has no usable jwks_uri")
    return _Metadata(jwks_uri, tuple(a for a in RSA_ALGORITHMS if a in advertised))


def _fetch_keys(url: str, runtime: ChannelRuntime) -> dict[str, Mapping[str, Any]]:
    keys = _get_json(url, runtime).get("keys")
    if not isinstance(keys, list):
        raise VerificationFailed("the key set has no keys")
    return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}


def _get_json(url: str, runtime: ChannelRuntime) -> Mapping[str, Any]:
    try:
        response = runtime.http.get(url, timeout=runtime.send_timeout)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise VerificationFailed("could not fetch the Bot Framework signing keys") from exc
    if not isinstance(document, dict):
        raise VerificationFailed("the Bot Framework key endpoint answered no JSON object")
    return document


def access_token(config: ChannelConfig, runtime: ChannelRuntime) -> str:
    """The bot's connector token, cached until five minutes before it expires."""
    token: str = runtime.cache.get_or_load_timed(
        _token_cache_key(config, runtime), lambda: _fetch_token(config, runtime)
    )
    return token


def drop_access_token(config: ChannelConfig, runtime: ChannelRuntime) -> None:
    """Forget the cached token (the connector refused it), so the next send fetches one."""
    runtime.cache.forget(_token_cache_key(config, runtime))


def _token_url(config: ChannelConfig, runtime: ChannelRuntime) -> str:
    tenant = config.options.get("azure_tenant") or DEFAULT_TENANT
    return runtime.urls.teams_token_url.format(tenant=quote(tenant, safe=""))


def _token_cache_key(config: ChannelConfig, runtime: ChannelRuntime) -> str:
    return f"teams:token:{_token_url(config, runtime)}:{config.account_id}"


def _fetch_token(config: ChannelConfig, runtime: ChannelRuntime) -> tuple[str, float]:
    password = config.secrets.get("app_password", "")
    if not config.account_id or not password:
        raise SendRejected("the Teams config lacks the app id or app_password", "no_credentials")
    form = {
        "grant_type": "client_credentials",
        "client_id": config.account_id,
        "client_secret": password,
        "scope": SCOPE,
    }
    try:
        response = runtime.http.post(
            _token_url(config, runtime), data=form, timeout=runtime.send_timeout
        )
    except httpx.TimeoutException as exc:
        raise SendFailed("Teams token request timed out") from exc
    except httpx.TransportError as exc:
        raise SendFailed(f"Teams token endpoint unreachable ({type(exc).__name__})") from exc
    body = _json_or_empty(response)
    if response.status_code == 429:
        raise RateLimited("Teams token endpoint throttled", retry_after_seconds(response.headers))
    if response.status_code >= 500:
        raise SendFailed(f"Teams token endpoint failed (HTTP {response.status_code})")
    if response.status_code != 200:
        code = str(body.get("error") or response.status_code)
        raise SendRejected(f"Teams token refused (HTTP {response.status_code}): {code}", code)
    token, expires_in = body.get("access_token"), body.get("expires_in", 3599)
    if not isinstance(token, str) or not isinstance(expires_in, int | float | str):
        raise SendFailed("Teams token endpoint answered without an access token")
    try:
        ttl = max(float(expires_in) - TOKEN_EARLY_EXPIRY_SECONDS, 0.0)
    except ValueError as exc:
        raise SendFailed("Teams token endpoint answered a bad expires_in") from exc
    return token, ttl


def _json_or_empty(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
