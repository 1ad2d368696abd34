"""`mlp cost` on the committed stacks, and a budget the plan exceeds failing the preview (on a temp copy)."""

import json
from pathlib import Path

import yaml

from mlplatform.cli import main

ROOT = Path(__file__).resolve().parents[2]


def set_config(project: Path, stack: str, key: str, value) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"][f"ml-platform:{key}"] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def preview_with_budget(project: Path, capsys, stack: str, monthly_max: float) -> tuple[int, str]:
    """`mlp preview` of `stack` with a budget of `monthly_max` USD: its exit code and what it printed."""
    set_config(project, stack, "budget", {"monthlyMax": monthly_max})
    code = main(["--project-dir", str(project), "preview", "--stack", stack, "--out", str(project / "build")])
    return code, capsys.readouterr().out


def test_prod_costs_a_positive_range_with_the_gpu_pool_itemised_and_every_price_sourced(project, capsys):
    assert main(["--project-dir", str(project), "cost", "-s", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["stack"], document["cloud"], document["region"]) == ("prod", "alicloud", "cn-hangzhou")
    assert 0 < document["monthly"]["min"] <= document["monthly"]["max"]
    lines = {line["name"]: line for line in document["lines"]}
    gpu = lines["prod-gpu"]
    assert gpu["kind"] == "node pool"
    assert gpu["detail"] == "1..6 x ecs.gn7i-c8g1.2xlarge | ecs.gn7i-c16g1.4xlarge, spot"
    # No public ECS price could be read for these types: named, never counted as zero.
    assert gpu["monthly"] is None and len(gpu["unpriced"]) == 2
    assert any(u["name"] == "prod-gpu" for u in document["unpriced"])
    priced = [line for line in document["lines"] if line["monthly"] is not None]
    assert {"prod-cluster", "prod-datasets", "prod-models"} <= {line["name"] for line in priced}
    for line in priced:
        assert line["prices"] and all(p["source"].startswith("https://") and p["readOn"] for p in line["prices"])
    assert document["groups"]["platform"]["max"] == document["monthly"]["max"]
    assert document["budget"] == {"monthlyMax": 5000.0, "currency": "USD", "exceeded": False}  # Pulumi.prod.yaml


def test_the_text_report_lists_lines_total_unpriced_and_sources(project, capsys):
    assert main(["--project-dir", str(project), "cost", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Monthly cost of prod (alicloud cn-hangzhou), USD, 730 hours a month")
    assert "node pool" in out and "prod-gpu" in out
    assert "\nTotal: " in out and "\nUnpriced, not in the total" in out and "\nSources:\n  [1] https://" in out
    assert "\nBudget: 5,000.00 USD a month, within it (maximum " in out  # Pulumi.prod.yaml's budget


def test_a_prod_budget_below_the_plan_fails_the_preview_and_names_the_budget_policy(project, capsys):
    code, out = preview_with_budget(project, capsys, "prod", 50)
    assert code == 1, out
    assert "[mandatory]  budget" in out
    assert "over its budget of 50.00 USD (ml-platform:budget.monthlyMax)" in out
    report = json.loads((project / "build" / "prod" / "policy.json").read_text())
    [violation] = [v for v in report["violations"] if v["policy_name"] == "budget"]
    assert violation["enforcement_level"] == "mandatory"
    assert "Driven by: prod-cluster (cluster fee)" in violation["message"]


def test_a_dev_budget_below_the_plan_is_advisory(project, capsys):
    code, out = preview_with_budget(project, capsys, "dev", 1)
    assert code == 0, out
    assert "[advisory]  budget" in out


def test_a_budget_in_another_currency_is_a_config_error(project, capsys):
    set_config(project, "prod", "budget", {"monthlyMax": 50, "currency": "EUR"})
    assert main(["--project-dir", str(project), "cost", "--stack", "prod"]) == 2
    assert "ml-platform:budget.currency" in capsys.readouterr().err


def test_the_cost_change_against_an_earlier_preview(project, capsys):
    out_dir = project / "build"
    assert main(["--project-dir", str(project), "preview", "-s", "prod", "--out", str(out_dir), "--no-policy"]) == 0
    path = project / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["ml-platform:nodePools"]["gpu"]["maxSize"] = 20
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    capsys.readouterr()
    assert main(["--project-dir", str(project), "cost", "-s", "prod", "--against", str(out_dir / "prod")]) == 0
    out = capsys.readouterr().out
    assert "~ node pool gpu: unpriced (1..6 x ecs.gn7i-c8g1.2xlarge" in out
    assert "-> 1..20 x ecs.gn7i-c8g1.2xlarge | ecs.gn7i-c16g1.4xlarge, spot)" in out
