"""RFC 9162 Merkle hashing and proofs: reference vectors and a naive recursive cross-check."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobshadow.govern.audit import AuditProofError, merkle

# Certificate Transparency / transparency-dev `merkle` reference data (RFC 6962 test vectors).
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path)
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# -- an independent, deliberately naive implementation of RFC 9162 section 2.1 ------------------
def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:]))


def naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [naive_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def naive_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return [] if m in (0, len(d)) else naive_subproof(m, d, True)


class NaiveNodes:
    """A NodeSource that hashes each requested perfect subtree from scratch."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self.requests = 0

    def get_nodes(self, nodes: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        self.requests += 1
        out = {}
        for level, idx in nodes:
            lo, hi = idx << level, (idx + 1) << level
            assert hi <= len(self.leaves), (level, idx)
            out[(level, idx)] = naive_mth(self.leaves[lo:hi])
        return out


def _leaves(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") * (i % 3) for i in range(n)]


# -- reference vectors ---------------------------------------------------------------------------
def test_reference_roots() -> None:
    assert merkle.EMPTY_ROOT.hex() == ROOTS[0]
    tree = merkle.CompactRange()
    assert tree.root().hex() == ROOTS[0]
    for n, leaf in enumerate(LEAVES, start=1):
        tree.append(merkle.leaf_hash(leaf))
        assert tree.root().hex() == ROOTS[n]
        assert naive_mth(LEAVES[:n]).hex() == ROOTS[n]
        assert merkle.root(NaiveNodes(LEAVES[:n]), n).hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_reference_inclusion(index: int, size: int, path: list[str]) -> None:
    source = NaiveNodes(LEAVES)
    assert [h.hex() for h in merkle.inclusion_proof(source, index, size)] == path
    proof = [bytes.fromhex(h) for h in path]
    root = bytes.fromhex(ROOTS[size])
    leaf = merkle.leaf_hash(LEAVES[index])
    merkle.verify_inclusion(leaf, index, size, proof, root)
    _assert_inclusion_probes_fail(leaf, index, size, proof, root)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_reference_consistency(old: int, new: int, path: list[str]) -> None:
    assert [h.hex() for h in merkle.consistency_proof(NaiveNodes(LEAVES), old, new)] == path
    proof = [bytes.fromhex(h) for h in path]
    merkle.verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)
    _assert_consistency_probes_fail(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 8]) + out[i][1:]
    return out


def _assert_inclusion_probes_fail(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, merkle.leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, merkle.EMPTY_ROOT),
        (index, size, leaf, proof, some),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [*proof, b""], root),
    ]
    probes += [(index, size, leaf, _flip(proof, i), root) for i in range(len(proof))]
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], some, *proof[1:]], root))
    for i, (pi, ps, pl, pp, pr) in enumerate(probes):
        with pytest.raises(AuditProofError):
            merkle.verify_inclusion(pl, pi, ps, pp, pr)
            pytest.fail(f"inclusion probe {i} verified")


def _assert_consistency_probes_fail(old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes]) -> None:
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, merkle.leaf_hash(b"WrongRoot"), r2, proof),
        (old, new, r1, merkle.leaf_hash(b"WrongRoot"), proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
        (old, new, r1, r2, [b"", *proof]),
    ]
    probes += [(old, new, r1, r2, _flip(proof, i)) for i in range(len(proof))]
    for i, (o, n, a, b, p) in enumerate(probes):
        if (o, n) == (old, new) and a == r1 and b == r2 and p == proof:
            continue
        with pytest.raises(AuditProofError):
            merkle.verify_consistency(o, n, a, b, p)
            pytest.fail(f"consistency probe {i} verified")


def test_degenerate_consistency() -> None:
    r1 = merkle.leaf_hash(b"a")
    merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, r1, [])
    merkle.verify_consistency(3, 3, r1, r1, [])
    bad = [
        (3, 3, r1, merkle.EMPTY_ROOT, []),  # same size, different roots
        (3, 3, r1, r1, [r1]),  # same size, non-empty proof
        (0, 5, r1, r1, []),  # "empty" tree with a non-empty root
        (0, 5, merkle.EMPTY_ROOT, r1, [r1]),
        (2, 1, r1, r1, []),  # time travel
        (1, 2, r1, r1, []),  # empty proof
        (1, 2, b"short", r1, [r1]),
    ]
    for o, n, a, b, p in bad:
        with pytest.raises(AuditProofError):
            merkle.verify_consistency(o, n, a, b, p)


def test_single_leaf_and_bad_inputs() -> None:
    h = merkle.leaf_hash(b"data")
    merkle.verify_inclusion(h, 0, 1, [], h)
    for index, size in [(0, 0), (1, 1), (1, 0), (2, 1), (-1, 1)]:
        with pytest.raises(AuditProofError):
            merkle.verify_inclusion(h, index, size, [], h)
    with pytest.raises(AuditProofError):
        merkle.verify_inclusion(b"", 0, 1, [], h)
    with pytest.raises(AuditProofError):
        merkle.inclusion_ranges(3, 3)
    with pytest.raises(AuditProofError):
        merkle.consistency_ranges(4, 3)
    with pytest.raises(ValueError, match="aligned"):
        merkle.range_nodes(1, 3)


# -- properties against the naive implementation ------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_root_matches_naive(n: int) -> None:
    leaves = _leaves(n)
    tree = merkle.CompactRange()
    completed: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        for level, idx, h in tree.append(merkle.leaf_hash(leaf)):
            completed[(level, idx)] = h
    expected = naive_mth(leaves)
    assert tree.root() == expected
    # Every node the compact range reports is exactly a perfect subtree hash.
    assert all(naive_mth(leaves[i << lv : (i + 1) << lv]) == h for (lv, i), h in completed.items())
    assert len(completed) == sum(n >> lv for lv in range(n.bit_length() + 1))
    # A compact range rebuilt from stored nodes continues identically.
    if n:
        nodes = merkle.CompactRange.nodes_for(n)
        rebuilt = merkle.CompactRange(n, [completed[x] for x in nodes])
        assert rebuilt.root() == expected
        rebuilt.append(merkle.leaf_hash(b"next"))
        assert rebuilt.root() == naive_mth([*leaves, b"next"])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_inclusion_matches_naive(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=200), label="size")
    m = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    leaves = _leaves(n)
    source = NaiveNodes(leaves)
    proof = merkle.inclusion_proof(source, m, n)
    assert proof == naive_path(m, leaves)
    assert source.requests == 1  # one batched lookup per proof
    root = naive_mth(leaves)
    leaf = merkle.leaf_hash(leaves[m])
    merkle.verify_inclusion(leaf, m, n, proof, root)
    assert merkle.root_from_inclusion_proof(leaf, m, n, proof) == root
    if proof:
        _assert_inclusion_probes_fail(leaf, m, n, proof, root)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_consistency_matches_naive(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=0, max_value=200), label="new size")
    m = data.draw(st.integers(min_value=0, max_value=n), label="old size")
    leaves = _leaves(n)
    proof = merkle.consistency_proof(NaiveNodes(leaves), m, n)
    assert proof == naive_proof(m, leaves)
    r1, r2 = naive_mth(leaves[:m]), naive_mth(leaves)
    merkle.verify_consistency(m, n, r1, r2, proof)
    if proof:
        _assert_consistency_probes_fail(m, n, r1, r2, proof)


def test_every_proof_for_small_trees() -> None:
    leaves = _leaves(33)
    source = NaiveNodes(leaves)
    roots = [naive_mth(leaves[:n]) for n in range(34)]
    for n in range(1, 34):
        for m in range(n):
            merkle.verify_inclusion(merkle.leaf_hash(leaves[m]), m, n, merkle.inclusion_proof(source, m, n), roots[n])
        for m in range(n + 1):
            merkle.verify_consistency(m, n, roots[m], roots[n], merkle.consistency_proof(source, m, n))
