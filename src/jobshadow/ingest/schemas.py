"""Request and response bodies of the collector API, and its OpenAPI document (server).

Bodies are msgspec structs: decoding validates types and rejects unknown fields, and the same
structs produce the JSON Schemas in the OpenAPI document, so the spec cannot drift from the code.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from jobshadow import __version__
from jobshadow.protocol import API, H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP

Hex64 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]


class _Body(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class EnrollRequest(_Body, forbid_unknown_fields=True, frozen=True):
    code: Annotated[str, Meta(min_length=4, max_length=64)]
    public_key: Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="Ed25519 public key, hex")]
    name: Annotated[str, Meta(max_length=200)] = ""


class EnrollResponse(_Body, forbid_unknown_fields=True, frozen=True):
    device_id: str
    person_id: str
    person: str
    landing_public_key: str
    server_time: float


class ConsentRequest(_Body, forbid_unknown_fields=True, frozen=True):
    state: Literal["given", "withdrawn"]


class BeginUploadRequest(_Body, forbid_unknown_fields=True, frozen=True):
    content_hash: Hex64
    payload_sha256: Hex64
    size: Annotated[int, Meta(gt=0)]
    segment_id: Annotated[str, Meta(pattern="^[0-9A-Za-z_.-]{1,64}$")]


class UploadState(_Body, forbid_unknown_fields=True, frozen=True):
    upload_id: str
    state: Literal["open", "landed", "rejected"]
    received: int
    size: int | None = None
    reason: str | None = None
    content_hash: str | None = None


class ErrorDetail(_Body, forbid_unknown_fields=True, frozen=True):
    code: str
    message: str


class ErrorBody(_Body, forbid_unknown_fields=True, frozen=True):
    error: ErrorDetail


class DeviceConfig(msgspec.Struct, frozen=True):
    etag: str
    programme: dict[str, Any]
    consent: dict[str, Any]
    scope: dict[str, Any] | None
    upload: dict[str, Any]
    device: dict[str, Any]


def _signed_params() -> list[dict[str, Any]]:
    return [{"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
            for h in (H_DEVICE, H_TIMESTAMP, H_NONCE, H_SIGNATURE)]


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "error", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}} for c in codes}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def openapi() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [EnrollRequest, EnrollResponse, ConsentRequest, BeginUploadRequest, UploadState, ErrorBody, DeviceConfig],
        ref_template="#/components/schemas/{name}")
    signed = _signed_params()
    upload_id = {"name": "upload_id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
    return {
        "openapi": "3.1.0",  # msgspec emits JSON Schema 2020-12, which is what 3.1 uses
        "info": {"title": "jobshadow collector", "version": __version__,
                 "description": "Enrolment, device configuration and resumable segment upload. Every device "
                                "request after enrolment is signed with the device's Ed25519 key."},
        "paths": {
            "/healthz": {"get": {"operationId": "health", "responses": {"200": {"description": "alive"}}}},
            f"{API}/enroll": {"post": {
                "operationId": "enroll", "requestBody": {"required": True, **_json("EnrollRequest")},
                "responses": {"201": {"description": "enrolled", **_json("EnrollResponse")},
                              **_errors(400, 403, 409, 413, 415)}}},
            f"{API}/device/config": {"get": {
                "operationId": "deviceConfig",
                "parameters": [*signed, {"name": "wait", "in": "query", "required": False,
                                         "schema": {"type": "integer", "minimum": 0, "maximum": 60}},
                               {"name": "If-None-Match", "in": "header", "required": False,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "configuration", **_json("DeviceConfig")},
                              "304": {"description": "unchanged"}, **_errors(400, 401, 403)}}},
            f"{API}/device/consent": {"post": {
                "operationId": "deviceConsent", "parameters": signed,
                "requestBody": {"required": True, **_json("ConsentRequest")},
                "responses": {"200": {"description": "recorded"}, **_errors(400, 401, 403, 413)}}},
            f"{API}/uploads": {"post": {
                "operationId": "beginUpload", "parameters": signed,
                "requestBody": {"required": True, **_json("BeginUploadRequest")},
                "responses": {"200": {"description": "existing", **_json("UploadState")},
                              "201": {"description": "created", **_json("UploadState")},
                              **_errors(400, 401, 403, 409, 413, 503)}}},
            f"{API}/uploads/{{upload_id}}": {
                "get": {"operationId": "uploadStatus", "parameters": [upload_id, *signed],
                        "responses": {"200": {"description": "state", **_json("UploadState")},
                                      **_errors(401, 403, 404)}},
                "put": {"operationId": "uploadChunk",
                        "parameters": [upload_id, *signed, {"name": "offset", "in": "query", "required": True,
                                                            "schema": {"type": "integer", "minimum": 0}}],
                        "requestBody": {"required": True, "content": {"application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}}}},
                        "responses": {"200": {"description": "received", **_json("UploadState")},
                                      **_errors(400, 401, 403, 404, 409, 413, 503)}}},
            f"{API}/segments/{{content_hash}}": {"put": {
                "operationId": "putSegment",
                "description": "A whole sealed segment no larger than the chunk limit, in one request: verified, "
                               "stored and committed before the answer, like a completed resumable upload. "
                               "Idempotent by content hash. Larger segments use POST /v1/uploads.",
                "parameters": [{"name": "content_hash", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}, *signed,
                               {"name": "segment_id", "in": "query", "required": True,
                                "schema": {"type": "string", "pattern": "^[0-9A-Za-z_.-]{1,64}$"}}],
                "requestBody": {"required": True, "content": {"application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": {"description": "landed", **_json("UploadState")},
                              **_errors(400, 401, 403, 413, 422, 503)}}},
            f"{API}/uploads/{{upload_id}}/complete": {"post": {
                "operationId": "completeUpload", "parameters": [upload_id, *signed],
                "responses": {"200": {"description": "landed", **_json("UploadState")},
                              **_errors(400, 401, 403, 404, 409, 413, 422, 503)}}},
        },
        "components": {"schemas": components},
    }
