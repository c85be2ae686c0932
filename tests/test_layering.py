"""The three layers depend one way and only on each other's public names.

``gatejac.symbolic`` ← ``gatejac.numeric`` ← ``gatejac.verify``: symbolic imports neither of the
others, numeric does not import verify.  No module of a layer imports another layer's private
module (``gatejac.numeric._compiled``) or private name (``from gatejac.symbolic import _x``),
nor reaches one through a module it imported (``numeric._structure_key``).  Imports are read
with :mod:`ast` from the source files, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("symbolic", "numeric", "verify")
ALLOWED = {"symbolic": set(), "numeric": {"symbolic"}, "verify": {"symbolic", "numeric"}}
"""The layers each layer may import."""


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def _layer_of(dotted: str) -> tuple[str | None, list[str]]:
    """``("numeric", ["_compiled", "_structure_key"])`` for ``gatejac.numeric._compiled._structure_key``."""
    parts = dotted.split(".")
    if len(parts) >= 2 and parts[0] == "gatejac" and parts[1] in LAYERS:
        return parts[1], parts[2:]
    return None, []


def _check_target(layer: str, module: str, line: int, target: str, found: list[Violation]) -> None:
    other, rest = _layer_of(target)
    if other is None or other == layer:
        return
    if other not in ALLOWED[layer]:
        found.append(Violation(module, line, f"{layer} imports {target} (layers depend symbolic <- numeric <- verify)"))
    private = [part for part in rest if part.startswith("_")]
    if private:
        found.append(Violation(module, line, f"{layer} imports {target}: private name {private[0]!r} of {other}"))


def violations(root: Path) -> list[Violation]:
    """Every import in ``root/<layer>/**/*.py`` that breaks the layering."""
    found: list[Violation] = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            module = str(path.relative_to(root))
            tree = ast.parse(path.read_text(), filename=module)
            aliases: dict[str, str] = {}  # local name -> another layer's module it stands for
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for name in node.names:
                        _check_target(layer, module, node.lineno, name.name, found)
                        if name.asname and _layer_of(name.name)[0] not in (None, layer):
                            aliases[name.asname] = name.name
                elif isinstance(node, ast.ImportFrom):
                    package = path.relative_to(root).parent.parts
                    if node.level and len(package) < node.level:
                        found.append(Violation(module, node.lineno, "a relative import leaves the layer; "
                                                                    "import gatejac.<layer> by name"))
                    if node.level or node.module is None:
                        continue
                    for name in node.names:
                        _check_target(layer, module, node.lineno, f"{node.module}.{name.name}", found)
                        if _layer_of(f"{node.module}.{name.name}")[0] not in (None, layer):
                            aliases[name.asname or name.name] = f"{node.module}.{name.name}"
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                        and node.value.id in aliases and node.attr.startswith("_")
                        and not node.attr.startswith("__")):
                    _check_target(layer, module, node.lineno, f"{aliases[node.value.id]}.{node.attr}", found)
    return found


def test_no_layer_imports_another_layers_private_names_or_depends_the_wrong_way():
    found = violations(ROOT)
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("layer, source, message", [
    ("verify", "from gatejac.numeric._compiled import _structure_key\n", "private name '_compiled' of numeric"),
    ("verify", "from gatejac.symbolic import _errors\n", "private name '_errors' of symbolic"),
    ("verify", "import gatejac.numeric._values as values\n", "private name '_values' of numeric"),
    ("verify", "def f():\n    from gatejac import numeric\n    return numeric._convert\n",
     "private name '_convert' of numeric"),
    ("symbolic", "from gatejac import numeric\n", "symbolic imports gatejac.numeric"),
    ("numeric", "def lazy():\n    from gatejac.verify import check\n", "numeric imports gatejac.verify.check"),
    ("numeric", "from ..verify import check\n", "a relative import leaves the layer"),
])
def test_the_layering_check_finds_each_kind_of_violation(tmp_path, layer, source, message):
    for name in LAYERS:
        (tmp_path / name).mkdir()
    (tmp_path / layer / "_module.py").write_text(source)
    found = violations(tmp_path)
    assert any(message in str(v) for v in found), found


def test_public_imports_in_the_right_direction_are_allowed(tmp_path):
    for name in LAYERS:
        (tmp_path / name).mkdir()
    (tmp_path / "verify" / "_module.py").write_text(
        "from gatejac import numeric\nfrom gatejac.symbolic import Cell, unknown_name\nfrom . import _other\n"
        "numeric.compile\nnumeric.__name__\n")
    (tmp_path / "numeric" / "_module.py").write_text("from gatejac.symbolic import derive\n")
    assert violations(tmp_path) == []
