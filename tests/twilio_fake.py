"""The local fake of Twilio's Messages API the tests use (the implementation ships in
promptly/dev/twilio_fake.py because `make run` serves it too)."""

from promptly.dev.twilio_fake import (
    INVALID_NUMBER,
    LANDLINE_NUMBER,
    ReceivedRequest,
    TwilioFake,
)

__all__ = ["INVALID_NUMBER", "LANDLINE_NUMBER", "ReceivedRequest", "TwilioFake"]
