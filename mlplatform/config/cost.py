"""Config of what a stack may cost and what the estimate assumes where the plan cannot say (`mlp cost`)."""

from __future__ import annotations

import datetime
import re
from typing import Literal

from pydantic import Field, field_validator

from mlplatform.config.base import Model, PathError

# A price key as the catalog names prices (docs/cost.md "The price catalog"): `instance/<type>`, `<kind>/<name>`.
PRICE_KEY = re.compile(r"^[A-Za-z]+/[A-Za-z0-9._:-]+$")


class Budget(Model):
    monthly_max: float = Field(gt=0)
    """The most the stack may cost a month: a plan whose estimated maximum is higher, or that has items the
    estimate cannot price, violates the `budget` policy (mandatory in prod, advisory in dev)."""
    currency: Literal["USD"] = "USD"
    """The currency of `monthlyMax`: the price catalog's, USD."""


class SuppliedPrice(Model):
    usd: float = Field(ge=0)
    """The price in USD per `per`: pay-as-you-go list price, or what your contract says."""
    per: Literal["hour", "GB-month", "GB"] = "hour"
    """The unit: an hour (instances, fees), a GB-month (storage) or a GB (ingestion)."""
    source: str
    """Where the price was read (an https address: the provider's price page, its price API, your contract)."""
    read_on: datetime.date | None = None
    """The day it was read (YYYY-MM-DD)."""

    @field_validator("source")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value!r} is not an https address: name the page or API the price was read from")
        return value


class CostAssumptions(Model):
    storage_gb: dict[Literal["datasets", "models"], int] = {"datasets": 500, "models": 100}
    """Expected GB stored in each bucket (Standard class), for the monthly storage estimate."""
    log_gb_per_month: int = Field(default=30, ge=0)
    """Expected GB of logs each log store or log group takes in a month."""
    training_hours_per_month: int = Field(default=24, ge=0)
    """Hours a month each training job is expected to run (serverless clusters bill its pods while it runs)."""
    prices: dict[str, SuppliedPrice] = {}
    """Prices the shipped catalog lacks, by price key (`instance/ecs.gn7i-c8g1.2xlarge`, `loadBalancer/clb`; `mlp
    cost` names the keys of what it cannot price), each with its source. They fill gaps only: a catalog or live
    price of the same key wins."""

    @field_validator("prices")
    @classmethod
    def _keys(cls, value: dict[str, SuppliedPrice]) -> dict[str, SuppliedPrice]:
        for key in value:
            if not PRICE_KEY.match(key):
                raise PathError((key,), "is not a price key: `instance/<instance type>` or `<kind>/<name>`")
        return value
