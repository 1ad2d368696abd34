"""The workloads layer: training jobs, notebooks, servings and web services on the planned platform."""

from __future__ import annotations

import pulumi

from stacks.context import Platform


def deploy(platform: Platform) -> None:
    pulumi.export("endpoints", {})
