"""The exception tree: every project exception is in ``jobshadow.errors``, drawn, and raised somewhere."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import jobshadow.errors as errors

SRC = Path(__file__).resolve().parents[1] / "src" / "jobshadow"
BUILTIN_BASES = {"Exception", "BaseException", "RuntimeError", "TypeError", "ValueError", "OSError", "LookupError"}
# Test helpers may fail a test with an assertion of their own.
ALLOWED = {"testing/poll.py": {"NeverHappened"}}


def tree_classes() -> dict[str, type[BaseException]]:
    return {name: obj for name, obj in vars(errors).items()
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == errors.__name__}


def test_no_module_defines_an_exception_outside_the_tree() -> None:
    names = set(tree_classes()) | BUILTIN_BASES
    found = []
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        if rel == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.ClassDef) and node.name not in ALLOWED.get(rel, set()):
                bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in
                         node.bases}
                if bases & names:
                    found.append(f"{rel}: {node.name}")
    assert found == []


def test_every_class_is_drawn_in_the_tree_and_raised_or_caught_somewhere() -> None:
    doc = errors.__doc__ or ""
    classes = tree_classes()
    assert [n for n in classes if not re.search(rf"\b{n}\b", doc)] == []
    code = "\n".join(p.read_text() for p in SRC.rglob("*.py") if p.name != "errors.py")
    subclassed = {b.__name__ for c in classes.values() for b in c.__bases__}
    unused = [n for n in classes if n not in subclassed and not re.search(rf"\b{n}\b", code)]
    assert unused == []
