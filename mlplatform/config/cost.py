"""Config of what a stack may cost and what the estimate assumes where the plan cannot say (`mlp cost`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlplatform.config.base import Model


class Budget(Model):
    monthly_max: float = Field(gt=0)
    """The most the stack may cost a month: a plan whose estimated maximum is higher violates the `budget`
    policy (mandatory in prod, advisory in dev)."""
    currency: Literal["USD"] = "USD"
    """The currency of `monthlyMax`: the price catalog's, USD."""


class CostAssumptions(Model):
    storage_gb: dict[Literal["datasets", "models"], int] = {"datasets": 500, "models": 100}
    """Expected GB stored in each bucket (Standard class), for the monthly storage estimate."""
    log_gb_per_month: int = Field(default=30, ge=0)
    """Expected GB of logs each log store or log group takes in a month."""
    training_hours_per_month: int = Field(default=24, ge=0)
    """Hours a month each training job is expected to run (serverless clusters bill its pods while it runs)."""
