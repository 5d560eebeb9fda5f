"""`promptly sms …`: play the client's side of a text conversation against a running API."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from twilio.request_validator import RequestValidator

from promptly.config import Settings

sms_app = typer.Typer(help="Text messages (Twilio): replies as a client.", no_args_is_help=True)


def signed_reply(
    settings: Settings, sender: str, text: str, sid: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL, form and headers of Twilio's webhook for an SMS from `sender`."""
    if settings.twilio_auth_token is None or settings.twilio_account_sid is None:
        raise typer.BadParameter(
            "PROMPTLY_TWILIO_ACCOUNT_SID and PROMPTLY_TWILIO_AUTH_TOKEN are not set "
            "(`make run` sets them for its Twilio fake in .data/env)"
        )
    url = f"{settings.public_base_url.rstrip('/')}/inbound/sms"
    form = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.twilio_account_sid,
        "From": sender,
        "To": settings.twilio_from or "",
        "Body": text,
        "NumMedia": "0",
    }
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return url, form, {"X-Twilio-Signature": validator.compute_signature(url, form)}


@sms_app.command("reply")
def reply_command(
    sender: Annotated[str, typer.Argument(help="the client's number, E.164: +48600100200")],
    text: Annotated[str, typer.Argument(help="what the client writes: TAK, STOP, R, ...")],
    sid: Annotated[
        str | None, typer.Option(help="MessageSid (repeat one to see a duplicate ignored)")
    ] = None,
) -> None:
    """Post an SMS reply to the API exactly as Twilio would, signature included."""
    # Imported here: httpx (and the rich and click its own CLI brings) adds about 0.2 s to
    # every `promptly` start, and only this command needs it.
    import httpx

    from promptly.cli.common import settings

    url, form, headers = signed_reply(settings(), sender, text, sid or f"SM{uuid.uuid4().hex}")
    try:
        response = httpx.post(url, data=form, headers=headers, timeout=30)
    except httpx.HTTPError as err:
        typer.echo(f"{url}: {err} (is `make run` going?)", err=True)
        raise typer.Exit(1) from err
    outcome = response.headers.get("X-Promptly-Outcome", "")
    typer.echo(f"{response.status_code} {form['MessageSid']} {outcome or response.text[:200]}")
    raise typer.Exit(0 if response.is_success else 1)
