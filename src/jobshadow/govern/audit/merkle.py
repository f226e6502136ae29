"""RFC 9162 (RFC 6962) Merkle tree hashing, proofs and proof verification (curated zone / governance).

Pure functions, no I/O. The tree over leaves ``D[0:n]`` is the one of RFC 9162 section 2.1.1:

* ``MTH({}) = SHA-256()``, ``MTH({d}) = SHA-256(0x00 || d)``;
* for ``n > 1`` with ``k`` the largest power of two *strictly less* than ``n``,
  ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))``.

Every range that appears in that recursion starts at a multiple of the smallest power of two not
below its length, so its hash is a right fold of *perfect* subtrees taken from the binary digits of
its length. A perfect subtree is named ``(level, index)``: it covers leaves
``[index * 2**level, (index + 1) * 2**level)``. Storage only has to keep those perfect nodes
(written once, when they complete) to answer any root or proof in O(log n) lookups; ``NodeSource``
is that seam. Proof generation first plans the ranges it needs, then asks for all their nodes at
once, so a database answers a whole proof in one round of lookups.

Verification follows RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2 (consistency) step by step;
failures raise ``AuditProofError`` with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Protocol

from jobshadow.govern.audit.errors import AuditProofError

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"

Node = tuple[int, int]
"""A perfect subtree: (level, index) covers leaves [index << level, (index + 1) << level)."""


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    if n < 2:
        raise ValueError("split_point needs n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose right fold is ``MTH(D[start:end])``.

    Valid for every range that RFC 9162's recursion produces (see the module docstring).
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative leaf range [{start}, {end})")
    out: list[Node] = []
    pos = start
    size = end - start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if pos & ((1 << level) - 1):
                raise ValueError(f"leaf range [{start}, {end}) is not aligned as in RFC 9162")
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of perfect subtree hashes: ``node(h0, node(h1, ... node(h[-2], h[-1])))``."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make ``PATH(index, D[size])``, leaf side first (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise AuditProofError(f"leaf {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()  # collected root side first; the path lists siblings from the leaf upwards
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make ``PROOF(old_size, D[new_size])`` (RFC 9162 2.1.4.1).

    Empty when ``old_size`` is 0 or equals ``new_size``: nothing needs proving then.
    """
    if not 0 <= old_size <= new_size:
        raise AuditProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[tuple[int, int]] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], b): nothing if this is the old tree itself, else its root.
            if not whole:
                out.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
            m -= k
            whole = False
    out.reverse()
    return out


class NodeSource(Protocol):
    """Where proof generation reads perfect subtree hashes from."""

    def get_nodes(self, nodes: Sequence[Node]) -> Mapping[Node, bytes]:
        """Hashes of the requested perfect subtrees (level 0 = leaf hashes).

        May block on I/O; raises if a node is missing (the storage layer's own error class).
        """
        ...


def _hash_ranges(source: NodeSource, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    plans = [range_nodes(s, e) for s, e in ranges]
    wanted = sorted({node for plan in plans for node in plan})
    got = source.get_nodes(wanted)
    return [fold([got[node] for node in plan]) for plan in plans]


def root(source: NodeSource, size: int) -> bytes:
    """``MTH(D[0:size])`` from stored perfect subtrees."""
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges(source, [(0, size)])[0]


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves."""
    return _hash_ranges(source, inclusion_ranges(index, size))


def consistency_proof(source: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof from the tree of ``old_size`` leaves to the one of ``new_size``."""
    return _hash_ranges(source, consistency_ranges(old_size, new_size))


def _check_hash(what: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise AuditProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that ``path`` implies for leaf hash ``leaf`` at ``index`` (RFC 9162 2.1.3.2, 1-4)."""
    _check_hash("the leaf hash", leaf)
    for i, p in enumerate(path):
        _check_hash(f"inclusion path element {i}", p)
    if not 0 <= index < size:  # step 1
        raise AuditProofError(f"leaf index {index} is not below tree size {size}")
    fn, sn = index, size - 1  # step 2
    r = leaf  # step 3
    for p in path:  # step 4
        if sn == 0:
            raise AuditProofError("inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # only when LSB(fn) was clear
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5, first half
        raise AuditProofError("inclusion path is shorter than the tree is deep")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], root_hash: bytes) -> None:
    """Raise ``AuditProofError`` unless ``path`` proves leaf hash ``leaf`` at ``index`` under the root."""
    _check_hash("the root hash", root_hash)
    if root_from_inclusion_proof(leaf, index, size, path) != root_hash:  # step 5, second half
        raise AuditProofError(f"inclusion path for leaf {index} does not lead to the root of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ``AuditProofError`` unless ``proof`` shows the tree of ``old_size`` is a prefix of ``new_size``.

    RFC 9162 2.1.4.2 covers ``0 < old_size < new_size``. The two edges are decided here: equal
    sizes need an empty proof and equal roots; from the empty tree the proof must be empty and
    ``old_root`` must be the empty-tree hash (stricter than implementations that accept any root).
    """
    _check_hash("the old root", old_root)
    _check_hash("the new root", new_root)
    for i, c in enumerate(proof):
        _check_hash(f"consistency proof element {i}", c)
    if not 0 <= old_size <= new_size:
        raise AuditProofError(f"tree size went backwards: {old_size} -> {new_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise AuditProofError("consistency proof must be empty here")
        expected = new_root if old_size else EMPTY_ROOT
        if old_root != expected:
            raise AuditProofError(f"roots differ for size {old_size}")
        return
    if not proof:  # step 1
        raise AuditProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: old tree is perfect, its root is implicit
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise AuditProofError("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:  # only when LSB(fn) was clear
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # step 7
    if sn != 0:
        raise AuditProofError("consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise AuditProofError(f"consistency proof does not reproduce the root of size {old_size}")
    if sr != new_root:
        raise AuditProofError(f"consistency proof does not reproduce the root of size {new_size}")


class CompactRange:
    """The right edge of a growing tree: one perfect subtree hash per set bit of its size.

    ``append`` is O(log n) amortised O(1) hashing and reports every perfect subtree it completes,
    which is exactly what storage must persist. Not thread-safe; the owner serialises calls.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self._size = size
        self._stack = list(hashes)
        if len(self._stack) != size.bit_count():
            raise ValueError(f"a compact range of size {size} holds {size.bit_count()} hashes")

    @staticmethod
    def nodes_for(size: int) -> list[Node]:
        """The perfect subtrees a compact range of ``size`` holds, left to right."""
        return range_nodes(0, size) if size else []

    @property
    def size(self) -> int:
        return self._size

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._stack)

    def hashes(self) -> list[bytes]:
        """The perfect subtree hashes held, left to right (what ``CompactRange(size, …)`` takes)."""
        return list(self._stack)

    def append(self, leaf_hash_: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the completed perfect subtrees ``(level, index, hash)``, leaf first."""
        index = self._size
        done = [(0, index, leaf_hash_)]
        h = leaf_hash_
        level = 0
        # Each trailing 1-bit of the old size is a left sibling waiting for this new right one.
        while index >> level & 1:
            h = node_hash(self._stack.pop(), h)
            level += 1
            done.append((level, index >> level, h))
        self._stack.append(h)
        self._size += 1
        return done

    def root(self) -> bytes:
        """``MTH`` of everything appended so far."""
        return fold(self._stack)
