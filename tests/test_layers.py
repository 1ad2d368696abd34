"""The layers of docs/architecture.md hold: imports point down, and no module grows past a readable size."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> the packages of ours it may import (besides itself)
ALLOWED = {
    "mlplatform.rules": set(),
    "mlplatform.conventions": set(),
    "mlplatform.catalog": set(),
    "mlplatform.pins": set(),
    "mlplatform.images": {"mlplatform.conventions"},  # standard library only besides `mirrored`
    "mlplatform.cost": set(),  # standard library only: the policy pack carries a copy of cost/pricing.py
    "mlplatform.config": {"mlplatform.rules", "mlplatform.conventions", "mlplatform.catalog", "mlplatform.pins"},
    "mlplatform.validation": {"mlplatform.rules", "mlplatform.conventions"},
    "mlplatform.infra": {
        "mlplatform.config",
        "mlplatform.pins",
        "mlplatform.images",
        "mlplatform.rules",
        "mlplatform.conventions",
        "mlplatform.workloads.addresses",
    },
    "mlplatform.workloads": {"mlplatform.config", "mlplatform.rules", "mlplatform.conventions", "mlplatform.images"},
    "mlplatform.offline": {
        "mlplatform.config",
        "mlplatform.validation",
        "mlplatform.rules",
        "mlplatform.conventions",
        "mlplatform.cost",
    },
    "mlplatform.cli": {
        "mlplatform.offline",
        "mlplatform.images",
        "mlplatform.cost",
        "mlplatform.config",
        "mlplatform.validation",
        "mlplatform.rules",
        "mlplatform.conventions",
    },
    "stacks": {
        "mlplatform.config",
        "mlplatform.cost",
        "mlplatform.infra",
        "mlplatform.workloads",
        "mlplatform.rules",
        "mlplatform.conventions",
    },
}


def layer_of(module: str) -> str | None:
    return max((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), key=len, default=None)


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("mlplatform", "stacks")}


def sources():
    for path in sorted([*(ROOT / "mlplatform").rglob("*.py"), *(ROOT / "stacks").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        yield module, path


@pytest.mark.parametrize(("module", "path"), list(sources()), ids=lambda value: str(value))
def test_imports_point_down(module, path):
    layer = layer_of(module)
    if layer is None:  # mlplatform/__main__.py: the entry point sits above every layer
        return
    wrong = []
    for name in imports(path):
        target = layer_of(name) or name
        if target == layer or name in ALLOWED[layer] or target in ALLOWED[layer] or name in ("mlplatform",):
            continue
        if any(name.startswith(allowed + ".") or name == allowed for allowed in ALLOWED[layer]):
            continue
        wrong.append(name)
    assert not wrong, f"{module} ({layer}) imports {sorted(wrong)}: see docs/architecture.md"


def test_no_module_is_over_450_lines():
    long = {str(path.relative_to(ROOT)): n for _, path in sources() if (n := len(path.read_text().splitlines())) > 450}
    assert long == {}
