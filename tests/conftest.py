"""Shared fixtures: run a Pulumi program under the recording mock engine and inspect what it registered."""

from collections.abc import Callable

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
