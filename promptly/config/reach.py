"""Settings: what must be real once messages reach real clients.

With a real provider configured — a SendGrid key and `sendgrid_host` not on this machine, or
Twilio credentials and `twilio_base_url` not on this machine — the defaults meant for a laptop
do harm: client links point at localhost, Twilio's signatures (computed over the public URL)
fail on every inbound SMS, and email goes out from, and to, `@promptly.example`. Such settings
are refused at start. The fakes of the dev stack and the tests listen on localhost, so they
are not real providers and keep the defaults.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from promptly.config.connections import ConnectionSettings
from promptly.config.operations import LOCAL_HOSTS
from promptly.config.signing import SigningSettings

PLACEHOLDER_DOMAIN = "@promptly.example"


def _is_local(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return not host or host in LOCAL_HOSTS or host.endswith(".localhost")


def real_providers(connections: ConnectionSettings) -> list[str]:
    """The providers messages go out through to real people: SendGrid, Twilio."""
    found = []
    if connections.sendgrid_api_key is not None and not _is_local(connections.sendgrid_host):
        found.append("SendGrid")
    if connections.twilio_account_sid is not None and not _is_local(connections.twilio_base_url):
        found.append("Twilio")
    return found


def unsafe_for_real_clients(connections: ConnectionSettings, signing: SigningSettings) -> list[str]:
    """One line per setting left at a value that only works on a developer's machine, naming
    its variable; empty without a real provider."""
    providers = real_providers(connections)
    if not providers:
        return []
    through = " and ".join(providers)
    problems = []
    url = signing.public_base_url
    if _is_local(url):
        problems.append(
            f"PROMPTLY_PUBLIC_BASE_URL is {url}, on this machine, but messages go to clients "
            f"through {through}: set it to the https:// address clients (and Twilio) reach "
            "the API at"
        )
    elif urlsplit(url).scheme != "https":
        problems.append(
            f"PROMPTLY_PUBLIC_BASE_URL is {url}, not https, but messages go to clients "
            f"through {through}: client links carry signed tokens, serve them over https"
        )
    if "SendGrid" in providers:
        for name in ("email_from", "supervisor_email", "front_desk_email"):
            address = str(getattr(connections, name))
            if address.lower().endswith(PLACEHOLDER_DOMAIN):
                problems.append(
                    f"PROMPTLY_{name.upper()} is {address}, a placeholder, but email goes "
                    "through SendGrid: set a real address"
                    + (" (a sender SendGrid verified)" if name == "email_from" else "")
                )
    return problems
