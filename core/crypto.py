"""Secrets at rest: channel credentials are sealed with the master key (Fernet: AES-CBC + HMAC)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

from core.errors import ConfigurationError


class SecretBox:
    """Seals and opens small dicts of secrets; the plaintext never leaves this object as text."""

    def __init__(self, master_key: bytes) -> None:
        try:
            self._fernet = Fernet(master_key)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "PARLEY_MASTER_KEY is not a Fernet key (url-safe base64 of 32 bytes)"
            ) from None

    def seal(self, secrets: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        try:
            opened: dict[str, str] = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken:
            raise ConfigurationError(
                "a channel secret cannot be decrypted: PARLEY_MASTER_KEY changed?"
            ) from None
        return opened


def new_master_key() -> str:
    return Fernet.generate_key().decode()
