"""The pipeline's public surface is pinned, and the web tier uses nothing else (like httpx's
test_exported_members)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import anb_pipeline
from anb_pipeline import cli_support, ops

WEB = Path(__file__).resolve().parents[1] / "src" / "anb_web"
#: Submodules that are part of the public surface by name.
PUBLIC_MODULES = {"layout"}


#: Names a module imports for its own use (typing, lazy loading), not exports.
PLUMBING = {"annotations", "Any", "TYPE_CHECKING", "importlib", "argparse", "Callable", "Path"}


def _public_names(module: ModuleType) -> set[str]:
    """What the module defines or imports for others, plus the names it loads lazily."""
    defined = {name for name, value in vars(module).items()
               if not name.startswith("_") and not isinstance(value, ModuleType)
               and name not in PLUMBING}
    return defined | set(getattr(module, "_LAZY", {}))


def test_all_lists_every_public_name_in_order() -> None:
    assert anb_pipeline.__all__ == sorted(_public_names(anb_pipeline) | PUBLIC_MODULES,
                                          key=str.casefold)
    for module in (ops, cli_support):
        assert module.__all__ == sorted(_public_names(module), key=str.casefold)
    for name in anb_pipeline.__all__:  # the lazily loaded ones resolve too
        assert getattr(anb_pipeline, name) is not None


def test_the_web_tier_imports_only_the_public_surface() -> None:
    allowed = {"anb_pipeline": set(anb_pipeline.__all__), "anb_pipeline.ops": set(ops.__all__),
               "anb_pipeline.cli_support": set(cli_support.__all__)}
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
