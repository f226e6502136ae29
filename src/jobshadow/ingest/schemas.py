"""The collector API's OpenAPI document (server), generated from the shared body structs.

The bodies themselves live in ``jobshadow.device_api``, shared with the device: decoding validates
types and rejects unknown fields, and the same structs produce the JSON Schemas here, so the spec
cannot drift from the code on either side.
"""

from __future__ import annotations

from typing import Any

import msgspec

from jobshadow import __version__
from jobshadow.device_api import (
    BeginUploadRequest,
    ConsentRequest,
    DeviceConfig,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    UploadState,
)
from jobshadow.protocol import API, H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP


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


__all__ = ["BeginUploadRequest", "ConsentRequest", "DeviceConfig", "EnrollRequest", "EnrollResponse", "ErrorBody",
           "UploadState", "openapi"]
