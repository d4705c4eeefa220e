"""The pipeline's public surface is pinned, and the web tier uses nothing else (like httpx's
test_exported_members)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import anb_pipeline
from anb_pipeline import ops

WEB = Path(__file__).resolve().parents[1] / "src" / "anb_web"
#: Submodules that are part of the public surface by name.
PUBLIC_MODULES = {"layout"}


def _public_names(module: ModuleType) -> set[str]:
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and not isinstance(value, ModuleType)
            and name != "annotations"}


def test_all_lists_every_public_name_in_order() -> None:
    assert anb_pipeline.__all__ == sorted(_public_names(anb_pipeline) | PUBLIC_MODULES,
                                          key=str.casefold)
    assert ops.__all__ == sorted(_public_names(ops), key=str.casefold)


def test_the_web_tier_imports_only_the_public_surface() -> None:
    allowed = {"anb_pipeline": set(anb_pipeline.__all__), "anb_pipeline.ops": set(ops.__all__)}
    reaching = []
    for path in sorted(WEB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                reaching += [f"{path.name}: import {alias.name}" for alias in node.names
                             if alias.name.startswith("anb_pipeline")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anb_pipeline"):
                names = {alias.name for alias in node.names}
                if not names <= allowed.get(node.module or "", set()):
                    reaching.append(f"{path.name}: from {node.module} import {sorted(names)}")
    assert reaching == []
