"""Plan-time cost: the shipped price catalog, the estimate of a plan, and its reports (`mlp cost`, `mlp diff`)."""

from mlplatform.cost.pricing import BASIS_OUTPUT, Estimate, Line, estimate, load_catalog, stale_prices

__all__ = ["BASIS_OUTPUT", "Estimate", "Line", "estimate", "load_catalog", "stale_prices"]
