"""The policy pack's vendored modules are the library's, unchanged.

The CLI runs the pack from policies/ with its own requirements, so it carries copies of the library's
standard-library-only modules in `policies/mlpolicies/vendor/`; a copy that drifts would make the pack judge
by other rules (or other prices) than the program renders with.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "policies" / "mlpolicies" / "vendor"
SOURCES = {
    "rules.py": "mlplatform/rules.py",
    "catalog.py": "mlplatform/catalog.py",
    "pricing.py": "mlplatform/cost/pricing.py",
    "billing.py": "mlplatform/cost/billing.py",
    "plan.py": "mlplatform/cost/plan.py",
    "prices.json": "mlplatform/cost/prices.json",
}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_pack_carries_the_library_module_unchanged(name):
    source = SOURCES[name]
    assert (VENDOR / name).read_text() == (ROOT / source).read_text(), (
        f"policies/mlpolicies/vendor/{name} differs from {source}: copy the library's file over"
    )


def test_the_vendor_folder_holds_only_copies():
    held = {path.name for path in VENDOR.iterdir() if path.is_file() and path.name != "__init__.py"}
    assert held == set(SOURCES), "every file in policies/mlpolicies/vendor/ must be a checked copy"
