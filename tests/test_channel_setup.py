"""The worker's channels never send an SMS or an email twice: a provider that can neither say
what it took nor have a repeat dropped is refused when the worker is set up
(activities/channels.py `check_sent_once`, docs/extending.md "A new channel")."""

from __future__ import annotations

import pytest
from psycopg import AsyncConnection
from pydantic import SecretStr

from promptly.activities.channels import (
    DoubleSendRisk,
    OutboxChannel,
    OutgoingMessage,
    check_sent_once,
)
from promptly.config import Settings
from promptly.domain.common import Channel
from promptly.worker import channels


class ProviderSms:
    """A new SMS provider written to `deliver` alone (no `accepted_since`)."""

    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        return "provider-1"


def test_the_shipped_channels_send_each_message_once() -> None:
    offline = channels(Settings())
    assert isinstance(offline[Channel.SMS], OutboxChannel)
    live = channels(
        Settings().model_copy(  # the providers' settings, without the checks of a deployment
            update={
                "sendgrid_api_key": SecretStr("SG.test"),
                "twilio_account_sid": "AC" + "0" * 32,
                "twilio_auth_token": SecretStr("token"),
                "twilio_from": "+48500100200",
            }
        )
    )
    assert {type(live[kind]).__name__ for kind in (Channel.SMS, Channel.EMAIL)} == {
        "TwilioSmsChannel",
        "SendGridChannel",
    }


def test_an_sms_provider_without_accepted_since_is_refused() -> None:
    with pytest.raises(DoubleSendRisk) as refused:
        check_sent_once({Channel.EMAIL: OutboxChannel(), Channel.SMS: ProviderSms()})
    assert str(refused.value).startswith(
        "the sms channel ProviderSms has no accepted_since: a send whose answer never came "
        "(a timeout) would be sent again"
    )
