"""The four provider fakes together, so a test can connect accounts of any channel: Parley asks
the provider to prove every account before it stores a channel config.

    with ProviderAccounts() as providers:
        app = create_app(providers.settings(settings))   # or env=providers.env for processes
        body = providers.own(scenario.registration())    # the fake now proves that account
        client.post("/v1/admin/channels", json=body, ...)

``own`` tells the registration's provider fake that the registration's secret (access token,
page token, bot token, app password) is its account's, exactly what the provider's own console
would have made true; a registration nobody ``own``ed is refused as a squatter would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from types import TracebackType
from typing import Any, Self

from core.settings import Settings
from tests.fakes.messenger import FakeMessenger
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.fakes.whatsapp import FakeWhatsApp


class ProviderAccounts:
    def __init__(self) -> None:
        self.whatsapp = FakeWhatsApp()
        self.messenger = FakeMessenger()
        self.slack = FakeSlack()
        self.teams = FakeTeams()
        self._stack = ExitStack()

    @property
    def urls(self) -> dict[str, str]:
        """The settings fields that point Parley at these fakes."""
        return {
            "whatsapp_api_base": self.whatsapp.base_url,
            "messenger_api_base": self.messenger.base_url,
            "slack_api_base": self.slack.base_url,
            "teams_openid_metadata_url": self.teams.openid_metadata_url,
            "teams_token_url": self.teams.token_url_template,
        }

    @property
    def env(self) -> dict[str, str]:
        """The same, as the environment of a Parley process."""
        return {f"PARLEY_{name.upper()}": url for name, url in self.urls.items()}

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(update=self.urls)

    def own(self, registration: Mapping[str, Any]) -> Mapping[str, Any]:
        """Make the registration's credentials its account's at the provider; the registration."""
        account, secrets = str(registration["account_id"]), registration["secrets"]
        channel = registration["channel"]
        if channel == "whatsapp":
            self.whatsapp.add_number(account, secrets["access_token"])
        elif channel == "messenger":
            self.messenger.add_page(account, secrets["page_token"])
        elif channel == "slack":
            self.slack.add_team(account, secrets["bot_token"])
        elif channel == "teams":
            self.teams.add_app(account, secrets["app_password"])
        else:
            raise ValueError(f"no provider fake for {channel!r}")
        return registration

    def __enter__(self) -> Self:
        for fake in (self.whatsapp, self.messenger, self.slack, self.teams):
            self._stack.enter_context(fake)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()
