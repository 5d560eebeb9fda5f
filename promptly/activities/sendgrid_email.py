"""Email through SendGrid's v3 mail API, using the official client.

Its own module so that only the worker, which builds the channels, loads the SendGrid client
(the workflows, the API and the CLI import the messaging activity, not its providers).

SendGrid's mail send keeps no idempotency key, and Promptly cannot ask it whether it took a
given message: the one place to look (the Email Activity API) is a paid add-on limited to 6
requests a minute. So this channel has no `accepted_since`: when the answer never came (a
timeout, a dropped connection, a 5xx) the retry sends again, and the copy carries the same
`Message-ID`, which mail clients use to drop a repeat.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
from typing import Any
from urllib.error import URLError

from psycopg import AsyncConnection
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment as SendGridAttachment
from sendgrid.helpers.mail import Disposition, FileContent, FileName, FileType, Mail

from promptly.activities.channels import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    retry_after,
)


def message_id_header(idempotency_key: str, sender: str) -> str:
    """A stable RFC 5322 Message-ID for one message: a repeat is the same message."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    domain = sender.rpartition("@")[2] or "promptly.invalid"
    return f"<{digest}@{domain}>"


class SendGridChannel:
    """Email through SendGrid's v3 mail API, using the official client."""

    # No `accepted_since` (see above): a repeat carries the same Message-ID, which mail
    # clients drop (channels.check_sent_once).
    repeats_dropped = True

    def __init__(
        self, api_key: str, sender: str, host: str = "https://api.sendgrid.com", timeout: float = 10
    ) -> None:
        self._client = SendGridAPIClient(api_key=api_key, host=host)
        self._sender = sender
        self._timeout = timeout

    async def deliver(self, conn: AsyncConnection, message: OutgoingMessage) -> str:
        mail = Mail(
            from_email=self._sender,
            to_emails=message.address,
            subject=message.subject,
            plain_text_content=message.body,
        )
        for attachment in message.attachments:
            mail.add_attachment(
                SendGridAttachment(
                    FileContent(base64.b64encode(attachment.content).decode()),
                    FileName(attachment.filename),
                    FileType(attachment.content_type),
                    Disposition("attachment"),
                )
            )
        body: dict[str, Any] = mail.get()
        # SendGrid deduplicates nothing itself; the key travels along for support look-ups,
        # and the stable Message-ID lets mail clients drop a repeat.
        body["custom_args"] = {"idempotency_key": message.idempotency_key}
        body["headers"] = {"Message-ID": message_id_header(message.idempotency_key, self._sender)}
        if message.in_reply_to is not None:  # an answer: in the client's thread
            body["headers"] |= {
                "In-Reply-To": message.in_reply_to,
                "References": message.in_reply_to,
            }
        try:
            response = await asyncio.to_thread(
                self._client.client.mail.send.post, request_body=body, timeout=self._timeout
            )
        except HTTPError as err:
            raise _classify(err.status_code, err.body, err.headers) from err
        except URLError as err:
            # urllib wraps what fails while connecting and sending: SendGrid got no request.
            raise TransientDeliveryError(f"SendGrid unreachable: {err}") from err
        except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
            # The request went out and no answer came back: SendGrid may have taken it.
            raise TransientDeliveryError(
                f"SendGrid did not answer (it may have taken the email): {err!r}"[:300],
                maybe_taken=True,
            ) from err
        return str(response.headers.get("X-Message-Id") or f"sendgrid:{message.idempotency_key}")


def _classify(status: int, body: Any, headers: Any) -> Exception:
    detail = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    if status == 429 or status >= 500:
        wait = retry_after(headers.get("Retry-After") if headers is not None else None)
        return TransientDeliveryError(
            f"SendGrid answered {status}: {detail[:300]}",
            wait,
            throttled=status == 429,
            maybe_taken=status >= 500,  # SendGrid failed somewhere: not a refusal
        )
    if status in (401, 403):
        # A revoked key, a key without mail send, an unverified sender: Promptly's account,
        # not this message. Retried within the message's budget until someone fixes it.
        return TransientDeliveryError(
            f"SendGrid refused Promptly's credentials (answered {status}): {detail[:300]}; "
            "check PROMPTLY_SENDGRID_API_KEY and PROMPTLY_EMAIL_FROM (a verified sender)",
            credentials=True,
        )
    return PermanentDeliveryError(f"SendGrid answered {status}: {detail[:300]}")
