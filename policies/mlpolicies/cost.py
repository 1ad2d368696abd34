"""13. budget: the plan's estimated monthly maximum stays within the stack's budget (`ml-platform:budget`), and it
fails closed: an item the estimate cannot price could cost more than what the budget leaves, so the plan fails
until its price is supplied (`ml-platform:costAssumptions.prices`, with a source) or read live (`mlp cost --live`).

The pack imports nothing from outside policies/, so it prices the plan itself with `mlpolicies/vendor/pricing.py`
and `mlpolicies/vendor/billing.py`, byte-identical copies of `mlplatform/cost/`'s, with their catalog `prices.json`:
the pack and `mlp cost` give the same numbers. The budget, the estimate's assumptions, the supplied prices and the
cached live prices come from the stack output `costBasis`, which AnalyzeStack hands over with the root Stack resource (the engine finalizes the stack's
outputs before it analyzes: pulumi/pulumi pkg/resource/deploy/deployment_executor.go, "Finalize the stack
outputs", then step_generator.go AnalyzeResources, which sends every resource's outputs).
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from mlpolicies.props import plain
from mlpolicies.vendor.pricing import BASIS_OUTPUT, STACK_TYPE, estimate


def _validate_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    root = next((r for r in args.resources if r.resource_type == STACK_TYPE), None)
    outputs = plain(root.props) if root is not None else {}
    basis = outputs.get(BASIS_OUTPUT) if isinstance(outputs, dict) else None
    budget = basis.get("budget") if isinstance(basis, dict) else None
    if not isinstance(budget, dict):
        args.not_applicable("the stack sets no budget (ml-platform:budget)")
    records = [
        {"urn": r.urn, "type": r.resource_type, "inputs": plain(r.props)}
        for r in args.resources
        if r.resource_type != STACK_TYPE
    ]
    stack = root.urn.split("::")[0].removeprefix("urn:pulumi:") if root is not None else ""
    result = estimate(records, outputs, stack=stack)
    if result.currency != budget.get("currency", result.currency):
        report(
            f"the budget is in {budget.get('currency')}, the price catalog in {result.currency}: use {result.currency}."
        )
    elif result.budget_message():
        report(result.budget_message())


budget = StackValidationPolicy(
    name="budget",
    description="The plan's estimated monthly maximum (price catalog + stack config) is within ml-platform:budget, "
    "with every billable item priced.",
    validate=_validate_budget,
)
