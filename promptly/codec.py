"""The payload codec: client PII never reaches Temporal in clear text (DESIGN.md §5).

Every payload a Promptly client or worker sends (workflow and activity inputs and results,
update arguments, query answers, failure messages) is encrypted with AES-GCM under the
current key; the key id travels in the payload's metadata, so after a rotation payloads
written under an older key still decrypt as long as that key stays configured. Payloads
this codec did not encode pass through decoding untouched (histories from before the codec
was turned on). A payload under a key this process does not know is refused with a clear
error naming the key id.

With `PROMPTLY_CODEC_STRICT` on, decoding refuses payloads that are not encrypted: a start or
an update sent to Temporal around Promptly (no codec) fails instead of being processed.

Keys come from the settings: `PROMPTLY_CODEC_KEYS` = JSON `{"key id": "<base64 of 16, 24 or
32 random bytes>"}` and `PROMPTLY_CODEC_KEY_ID` = the id new payloads are encrypted with.
Generate a key with
`python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"`.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """A payload this process cannot decrypt: unknown key id, or the wrong key / tampering."""


def parse_key(key_id: str, encoded: str) -> bytes:
    """A base64 AES key of 16, 24 or 32 bytes; ValueError naming the key id otherwise."""
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"codec key {key_id!r} is not valid base64") from err
    if len(key) not in (16, 24, 32):
        raise ValueError(
            f"codec key {key_id!r} must be 16, 24 or 32 bytes (AES-128/192/256), got {len(key)}"
        )
    return key


class EncryptionCodec(PayloadCodec):
    """AES-GCM with a random 96-bit nonce per payload; the key id is also authenticated
    (associated data), so moving a ciphertext under another key id fails to decrypt."""

    def __init__(
        self, keys: Mapping[str, bytes], current_key_id: str, *, strict: bool = False
    ) -> None:
        if current_key_id not in keys:
            raise ValueError(
                f"the current codec key id {current_key_id!r} is not among the keys "
                f"({', '.join(sorted(keys)) or 'none'})"
            )
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current_key_id = current_key_id
        # Strict: a payload that was not encrypted is refused, so nobody can start a case or
        # send an update by talking to Temporal directly without the keys.
        self.strict = strict

    @property
    def key_ids(self) -> Sequence[str]:
        return sorted(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.current_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if self.strict:
                raise CodecKeyError(
                    "unencrypted payload refused (PROMPTLY_CODEC_STRICT): it was not sent "
                    "through a Promptly client"
                )
            return payload  # not ours (written before the codec, or by another codec)
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecKeyError(
                f"payload encrypted with codec key {key_id!r}, which this process does not "
                f"have (known: {', '.join(self.key_ids)}); add it to PROMPTLY_CODEC_KEYS"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except (InvalidTag, ValueError) as err:  # ValueError: too short for a nonce
            raise CodecKeyError(
                f"payload under codec key {key_id!r} does not decrypt: the configured key "
                "with that id is not the one it was encrypted with, or the payload was altered"
            ) from err
        return Payload.FromString(plain)
