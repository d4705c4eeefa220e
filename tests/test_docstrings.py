"""Every public function and class of anb_pipeline says what it does, what it raises, and the
dicts that cross processes say what they hold (issue 14, item 6).

A function whose own body raises (``raise X``; a bare re-raise and ``NotImplementedError``
aside) must have a "Raises" line; so must a class whose ``__init__`` or ``__post_init__``
raises. Shapes, units and the sources of outside rules are for review: no test reads prose.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

from anb_pipeline import Job, PipelineEvent

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "anb_pipeline"
Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
CONSTRUCTORS = ("__init__", "__post_init__")


def _trees() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(PACKAGE)), ast.parse(path.read_text())


def _public(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Definition]]:
    """Public functions and classes, and the public methods of public classes."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and not node.name.startswith("_"):
            yield f"{prefix}{node.name}", node
            if isinstance(node, ast.ClassDef):
                yield from _public(node, f"{prefix}{node.name}.")


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, without those of functions or classes defined in it."""
    for node in ast.iter_child_nodes(function):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            yield node
            yield from _own_nodes(node)


def _raises(function: ast.AST) -> bool:
    for node in _own_nodes(function):
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if not (isinstance(raised, ast.Name) and raised.id == "NotImplementedError"):
                return True
    return False


def _says_raises(node: Definition) -> bool:
    return re.search(r"\bRaises\b", ast.get_docstring(node) or "") is not None


def test_every_public_function_and_class_has_a_docstring() -> None:
    missing = [f"{module}: {name}" for module, tree in _trees()
               for name, node in _public(tree) if ast.get_docstring(node) is None]
    assert missing == []


def test_a_public_function_that_raises_says_so() -> None:
    silent = []
    for module, tree in _trees():
        for name, node in _public(tree):
            if isinstance(node, ast.ClassDef):
                raising = any(isinstance(child, ast.FunctionDef) and child.name in CONSTRUCTORS
                              and _raises(child) for child in node.body)
            else:
                raising = _raises(node)
            if raising and not _says_raises(node):
                silent.append(f"{module}: {name}")
    assert silent == []


def test_the_check_sees_a_raise_and_ignores_nested_functions() -> None:
    tree = ast.parse("def loud():\n    '''Loud.'''\n    raise ValueError('x')\n"
                     "def quiet():\n    '''Quiet.'''\n    def inner():\n        raise ValueError\n"
                     "def abstract():\n    '''Abstract.'''\n    raise NotImplementedError\n")
    assert [name for name, node in _public(tree) if _raises(node)] == ["loud"]


def _meta_keys(tree: ast.AST) -> set[str]:
    """String keys the code puts in or reads from a job's meta: ``advance(key=...)``,
    ``Stage(meta={"key": ...})``, ``meta.get("key")``, ``meta["key"]``."""
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "advance":
            keys |= {kw.arg for kw in node.keywords if kw.arg not in (None, "input_key")}
        if isinstance(node, ast.keyword) and node.arg == "meta" and isinstance(node.value, ast.Dict):
            keys |= {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args:
            target, key = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        if target is not None and isinstance(key, ast.Constant) and isinstance(key.value, str):
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name == "meta":
                keys.add(key.value)
    return keys


def test_every_job_meta_key_is_documented_on_job() -> None:
    keys = set().union(*(_meta_keys(tree) for _, tree in _trees()))
    assert {"fps", "content_box", "output_key"} <= keys, "the scan finds the keys"
    doc = Job.__doc__ or ""
    assert sorted(key for key in keys if f"``{key}``" not in doc) == []


def test_every_event_payload_key_is_documented_on_the_event() -> None:
    doc = PipelineEvent.__doc__ or ""
    fields = [field.name for field in dataclasses.fields(PipelineEvent)]
    assert sorted(PipelineEvent(kind="step_started", video_id="v", step="trim", attempt=1,
                                message_id="m").asdict()) == sorted(fields)
    assert [name for name in fields if f"``{name}``" not in doc] == []
