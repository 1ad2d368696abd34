"""Shared fixtures: run a Pulumi program under the recording mock engine and inspect what it registered."""

from collections.abc import Callable
from pathlib import Path

import pytest

from mlplatform.offline import engine as offline


@pytest.fixture
def plan() -> Callable[..., offline.RecordingMonitor]:
    """`plan(program, stack="dev")` runs `program` as `pulumi up` would and returns the recording monitor.

    Every registration has finished when it returns, so tests assert on `monitor.of_type(...)`,
    `monitor.named(...)` and each Registration's camelCase `inputs`, with integers as integers.
    """

    def run(program: Callable[[], None], stack: str = "dev", stack_outputs: dict | None = None):
        monitor = offline.start("ml-platform", stack, stack_outputs)
        offline.run_program(program)
        return monitor

    return run


ROOT = Path(__file__).resolve().parents[1]
_PREVIEWS: dict[str, object] = {}


@pytest.fixture(scope="session")
def shipped():
    """`shipped(stack)`: the offline preview of a committed stack, planned once per test session."""
    from mlplatform.offline.preview import run_preview

    def preview(stack: str):
        if stack not in _PREVIEWS:
            _PREVIEWS[stack] = run_preview(stack, ROOT)
        return _PREVIEWS[stack]

    return preview


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project (program, dev and prod stack files, stacks/, the policy pack) a test may edit."""
    import shutil

    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("stacks", "policies"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "venv", "tests"))
    return tmp_path
