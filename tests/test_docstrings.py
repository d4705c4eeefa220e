"""Every public function and class of anb_pipeline says what it does (issue 14, item 6).

The command-line modules (``cli``, ``commands``, ``bench``) are left out: their
functions are argparse handlers whose help texts document them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "anb_pipeline"
COMMAND_MODULES = {"cli.py", "commands.py", "bench.py"}


def _undocumented(tree: ast.AST, prefix: str = "") -> list[str]:
    missing = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and not node.name.startswith("_"):
            if ast.get_docstring(node) is None:
                missing.append(f"{prefix}{node.name}")
            if isinstance(node, ast.ClassDef):
                missing += _undocumented(node, f"{prefix}{node.name}.")
    return missing


def test_every_public_function_and_class_has_a_docstring() -> None:
    missing = [f"{path.relative_to(PACKAGE)}: {name}"
               for path in sorted(PACKAGE.rglob("*.py"))
               if path.parent != PACKAGE or path.name not in COMMAND_MODULES
               for name in _undocumented(ast.parse(path.read_text()))]
    assert missing == []
