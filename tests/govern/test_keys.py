"""Sealed curated blocks: context binding and the older block version."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jobshadow.govern.keys import IntegrityFailure, _aad, seal, unseal


def test_a_block_opens_only_in_the_context_it_was_sealed_for() -> None:
    dek = os.urandom(32)
    blob = seal(dek, "s_a", "curated.events", "char", "seg1", b"secret")
    assert unseal(dek, "s_a", "curated.events", "char", "seg1", blob) == b"secret"
    for ctx in (("s_b", "curated.events", "char", "seg1"), ("s_a", "curated.frames", "char", "seg1"),
                ("s_a", "curated.events", "title", "seg1"), ("s_a", "curated.events", "char", "seg2")):
        with pytest.raises(IntegrityFailure):
            unseal(dek, *ctx, blob)


def test_field_boundaries_cannot_be_shifted_by_names_holding_the_separator() -> None:
    # With a plain separator these two contexts would authenticate the same bytes.
    assert _aad("s\x1fx", "t", "c", "g") != _aad("s", "x\x1ft", "c", "g")
    dek = os.urandom(32)
    blob = seal(dek, "s\x1fx", "t", "c", "g", b"v")
    with pytest.raises(IntegrityFailure):
        unseal(dek, "s", "x\x1ft", "c", "g", blob)


def test_version_1_blocks_written_before_still_open() -> None:
    dek, nonce = os.urandom(32), os.urandom(12)
    v1 = b"\x01" + nonce + AESGCM(dek).encrypt(nonce, b"old", _aad("s_a", "t", "c", "g", b"\x01"))
    assert unseal(dek, "s_a", "t", "c", "g", v1) == b"old"
    with pytest.raises(IntegrityFailure):
        unseal(dek, "s_a", "t", "c", "g", b"\x03" + v1[1:])
