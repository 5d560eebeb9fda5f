"""The codec server: lets the Temporal UI show decrypted payloads to authorised staff.

Temporal's remote codec protocol: `POST /codec/decode` and `POST /codec/encode` take and
return `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}` (the
protobuf JSON form of `Payloads`). Point the UI at it with `--ui-codec-endpoint
http://localhost:8000/codec` (dev server) or the UI's codec server setting.

Only the compliance and admin roles may call it, with their API key in `X-API-Key` or as
`Authorization: Bearer <key>`. CORS admits the Temporal UI's origin alone
(`PROMPTLY_CODEC_UI_ORIGIN`); a browser on any other page gets no CORS grant, so it cannot
read the answer. Without codec keys configured there are no codec routes (404).

`codec_router(settings)` is included by the API app (`promptly/starter/api.py`), which
provides `app.state.api_keys`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from promptly.codec import CodecKeyError
from promptly.config import ApiRole, Settings
from promptly.starter.api_auth import API_KEY_HEADER, ApiKeys

CODEC_ROLES = frozenset({ApiRole.COMPLIANCE, ApiRole.ADMIN})
ALLOWED_HEADERS = f"content-type, x-namespace, authorization, {API_KEY_HEADER.lower()}"

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"payloads": {"type": "array", "items": {"type": "object"}}},
                    "example": {
                        "payloads": [
                            {
                                "metadata": {
                                    "encoding": "YmluYXJ5L2VuY3J5cHRlZA==",
                                    "encryption-key-id": "MjAyNi0xMQ==",
                                },
                                "data": "<base64>",
                            }
                        ]
                    },
                }
            }
        },
    }
}


def codec_router(settings: Settings) -> APIRouter:
    codec = settings.payload_codec()
    origin = settings.codec_ui_origin.rstrip("/")
    router = APIRouter(prefix="/codec", tags=["codec"])
    if codec is None:
        return router  # payloads are not encrypted: nothing to serve

    def cors(request: Request) -> dict[str, str]:
        headers = {"Vary": "Origin"}
        if request.headers.get("origin") == origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def refuse(request: Request, status: int, reason: str) -> JSONResponse:
        headers = cors(request)
        if status == 401:
            headers["WWW-Authenticate"] = API_KEY_HEADER
        return JSONResponse({"reason": reason, "errors": []}, status_code=status, headers=headers)

    def presented_key(request: Request) -> str | None:
        key = request.headers.get(API_KEY_HEADER)
        if key:
            return key
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    async def apply(request: Request, action: Literal["encode", "decode"]) -> Response:
        key = presented_key(request)
        if key is None:
            return refuse(
                request, 401, f"an API key is required ({API_KEY_HEADER} or a Bearer token)"
            )
        keys: ApiKeys = request.app.state.api_keys
        caller = keys.identify(key)
        if caller is None:
            return refuse(request, 401, "this API key is not known")
        if caller.role not in CODEC_ROLES:
            return refuse(
                request,
                403,
                f"role {caller.role.value} may not use the codec; needs compliance or admin",
            )
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as err:
            return refuse(request, 400, f"not a payloads document: {err}")
        transform: Transform = codec.encode if action == "encode" else codec.decode
        try:
            done = await transform(list(payloads.payloads))
        except CodecKeyError as err:
            return refuse(request, 422, str(err))
        return Response(
            json_format.MessageToJson(Payloads(payloads=done)),
            media_type="application/json",
            headers=cors(request),
        )

    @router.post("/encode", openapi_extra=_BODY, summary="Encrypt payloads (Temporal codec)")
    async def codec_encode(request: Request) -> Response:
        return await apply(request, "encode")

    @router.post("/decode", openapi_extra=_BODY, summary="Decrypt payloads (Temporal codec)")
    async def codec_decode(request: Request) -> Response:
        return await apply(request, "decode")

    @router.options("/encode", include_in_schema=False)
    @router.options("/decode", include_in_schema=False)
    async def codec_preflight(request: Request) -> Response:
        headers = cors(request)
        if "Access-Control-Allow-Origin" in headers:
            headers |= {
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        return Response(status_code=204, headers=headers)

    return router
