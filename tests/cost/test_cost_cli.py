"""`mlp cost` on the committed stacks, budgets failing the preview (on a temp copy), live prices through the CLI."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlplatform.cli import main
from mlplatform.cost import live

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).with_name("recorded")


@pytest.fixture
def aws_project(project) -> Path:
    """The editable project with the AWS stacks too (prod-aws reads dev-aws's outputs)."""
    for name in ("Pulumi.dev-aws.yaml", "Pulumi.prod-aws.yaml"):
        shutil.copy(ROOT / name, project / name)
    return project


def set_config(project: Path, stack: str, key: str, value) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"][f"ml-platform:{key}"] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def set_pool(project: Path, stack: str, pool: str, **values) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["ml-platform:nodePools"][pool].update(values)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def preview_with_budget(project: Path, capsys, stack: str, monthly_max: float) -> tuple[int, str]:
    """`mlp preview` of `stack` with a budget of `monthly_max` USD: its exit code and what it printed."""
    set_config(project, stack, "budget", {"monthlyMax": monthly_max})
    code = main(["--project-dir", str(project), "preview", "--stack", stack, "--out", str(project / "build")])
    return code, capsys.readouterr().out


def cost_json(project: Path, capsys, stack: str, *extra: str) -> dict:
    assert main(["--project-dir", str(project), "cost", "-s", stack, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def budget_violation(project: Path, stack: str) -> dict:
    report = json.loads((project / "build" / stack / "policy.json").read_text())
    [violation] = [v for v in report["violations"] if v["policy_name"] == "budget"]
    return violation


def test_prod_aws_prices_every_node_pool_with_sources_and_leaves_at_most_three_items_unpriced(aws_project, capsys):
    document = cost_json(aws_project, capsys, "prod-aws")
    assert (document["stack"], document["cloud"], document["region"]) == ("prod-aws", "aws", "us-east-1")
    pools = [line for line in document["lines"] if line["kind"] == "node pool"]
    assert {line["name"] for line in pools} == {
        "prod-aws-cluster-system",
        "prod-aws-cpu-nodepool",
        "prod-aws-gpu-nodepool",
    }
    for line in pools:
        assert line["unpriced"] == [] and 0 <= line["monthly"]["min"] < line["monthly"]["max"], line
        assert all(p["source"].startswith("https://") and p["readOn"] for p in line["prices"]), line
    gpu = next(line for line in pools if line["name"] == "prod-aws-gpu-nodepool")
    assert gpu["monthly"] == {"min": 0.0, "max": round(6 * 1.212 * 730, 2)}  # g5.2xlarge on demand, the dearest
    assert len(document["unpriced"]) <= 3
    for item in document["unpriced"]:
        assert item["item"] and item["why"] and item["key"] and item["lines"], item
    nat = [line for line in document["lines"] if line["kind"] == "NAT gateway"]
    assert len(nat) == 3 and all(line["monthly"]["max"] == 32.85 for line in nat)  # a NAT gateway in each zone


def test_prod_names_each_price_it_lacks_with_why_and_the_key_to_supply_it_under(project, capsys):
    document = cost_json(project, capsys, "prod")
    assert (document["stack"], document["cloud"], document["region"]) == ("prod", "alicloud", "cn-hangzhou")
    pools = {line["name"]: line for line in document["lines"] if line["kind"] == "node pool"}
    assert pools["prod-gpu"]["detail"] == "1..6 x ecs.gn7i-c8g1.2xlarge | ecs.gn7i-c16g1.4xlarge, spot"
    # No stored ECS price list shows these types: named, never counted as zero, until supplied or read live.
    keys = {item["key"]: item for item in document["unpriced"]}
    assert set(keys) == {
        "instance/ecs.g7.xlarge",
        "instance/ecs.gn7i-c8g1.2xlarge",
        "instance/ecs.gn7i-c16g1.4xlarge",
        "instance/ecs.gn7i-2x.8xlarge",
        "instance/ecs.gn7i-4x.8xlarge",
        "loadBalancer/clb",
    }
    assert all(item["why"] for item in document["unpriced"])
    assert keys["loadBalancer/clb"]["lines"] == ["prod-cluster", "prod-kserve-gateway-lb", "prod-operators-ingress-lb"]
    assert document["budget"] is None  # Pulumi.prod.yaml sets none until these are priced
    assert document["unpricedLines"] == 6 and document["groups"]["platform"]["unpricedLines"] == 6
    priced = [line for line in document["lines"] if line["monthly"] is not None]
    for line in priced:
        assert line["prices"] and all(p["source"].startswith("https://") and p["readOn"] for p in line["prices"])


def test_the_text_report_lists_ranges_unpriced_items_usage_assumptions_and_sources(project, capsys):
    set_config(project, "prod", "budget", {"monthlyMax": 5000, "currency": "USD"})
    assert main(["--project-dir", str(project), "cost", "--stack", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Monthly cost of prod (alicloud cn-hangzhou), USD, 730 hours a month")
    assert "  platform: 102.25 (6 of 10 lines unpriced)" in out
    assert "\nBudget: 5,000.00 USD a month, NOT SHOWN: unpriced items could cost more" in out
    assert "\nUnpriced, not in the total (6):\n  - CLB instance fee in cn-hangzhou [loadBalancer/clb]" in out
    assert "ml-platform:costAssumptions.prices: 'loadBalancer/clb', 'instance/ecs.gn7i-c8g1.2xlarge'" in out
    assert "\nNot estimated, they follow traffic or usage:\n" in out
    assert "\nAssumptions:\n  730 hours a month; node pools from their fewest nodes" in out
    assert "\nSources:\n  [1] https://" in out


PROD_PRICES = {
    # Test values for the arithmetic (a user supplies real ones, with the page they read them from).
    key: {"usd": usd, "per": "hour", "source": "https://example.com/prices", "readOn": "2026-12-01"}
    for key, usd in {
        "instance/ecs.g7.xlarge": 0.2,
        "instance/ecs.gn7i-c8g1.2xlarge": 1.0,
        "instance/ecs.gn7i-c16g1.4xlarge": 1.5,
        "instance/ecs.gn7i-2x.8xlarge": 3.0,
        "instance/ecs.gn7i-4x.8xlarge": 6.0,
        "loadBalancer/clb": 0.01,
    }.items()
}


def test_prod_with_a_sixty_node_gpu_pool_and_a_5000_budget_fails_the_preview(project, capsys):
    set_pool(project, "prod", "gpu", maxSize=60)
    code, out = preview_with_budget(project, capsys, "prod", 5000)
    assert code == 1, out
    assert "[mandatory]  budget" in out
    violation = budget_violation(project, "prod")
    assert violation["enforcement_level"] == "mandatory"
    assert "cannot show the plan within its budget of 5,000.00 USD" in violation["message"]
    assert "on-demand price of ecs.gn7i-c8g1.2xlarge in cn-hangzhou (prod-gpu)" in violation["message"]


def test_supplied_prices_price_prod_and_sixty_gpu_nodes_exceed_the_budget(project, capsys):
    assumptions = {"prices": {key: {k: v for k, v in price.items()} for key, price in PROD_PRICES.items()}}
    set_config(project, "prod", "costAssumptions", assumptions)
    document = cost_json(project, capsys, "prod")
    assert document["unpriced"] == []
    gpu = next(line for line in document["lines"] if line["name"] == "prod-gpu")
    assert gpu["monthly"] == {"min": 73.0, "max": 6570.0}  # 1 x 1.0 x 0.1 (spot) .. 6 x 1.5 on demand, 730 h
    assert {p["origin"] for p in gpu["prices"]} == {"assumption", "catalog"}  # the spot range is the catalog's
    code, out = preview_with_budget(project, capsys, "prod", 30000)
    assert code == 0, out
    set_pool(project, "prod", "gpu", maxSize=60)
    code, out = preview_with_budget(project, capsys, "prod", 5000)
    assert code == 1, out
    assert "prod-gpu (node pool) up to 65,700.00" in budget_violation(project, "prod")["message"]


def test_a_dev_budget_below_the_plan_is_advisory(project, capsys):
    code, out = preview_with_budget(project, capsys, "dev", 1)
    assert code == 0, out
    assert "[advisory]  budget" in out


def test_a_budget_in_another_currency_is_a_config_error(project, capsys):
    set_config(project, "prod", "budget", {"monthlyMax": 50, "currency": "EUR"})
    assert main(["--project-dir", str(project), "cost", "--stack", "prod"]) == 2
    assert "ml-platform:budget.currency" in capsys.readouterr().err


def test_a_supplied_price_without_an_https_source_is_a_config_error(project, capsys):
    set_config(project, "prod", "costAssumptions", {"prices": {"loadBalancer/clb": {"usd": 0.01, "source": "me"}}})
    assert main(["--project-dir", str(project), "cost", "--stack", "prod"]) == 2
    assert "ml-platform:costAssumptions.prices.loadBalancer/clb.source" in capsys.readouterr().err


class RecordedPricing:
    """A pricing client answering GetProducts from the recorded responses (an empty price list otherwise)."""

    def __init__(self):
        self.responses = json.loads((RECORDED / "aws-get-products.json").read_text())["responses"]

    def get_products(self, **request):
        instance_type = next(f["Value"] for f in request["Filters"] if f["Field"] == "instanceType")
        return self.responses.get(instance_type, {"FormatVersion": "aws_v1", "PriceList": []})


def test_live_prices_are_read_cached_and_reach_the_plan(aws_project, capsys, monkeypatch, offline_prices):
    project = aws_project
    monkeypatch.setattr(live, "aws_client", RecordedPricing)
    monkeypatch.setenv("MLP_TODAY", "2026-12-06")
    document = cost_json(project, capsys, "prod-aws", "--live")
    gpu = next(line for line in document["lines"] if line["name"] == "prod-aws-gpu-nodepool")
    assert [p["origin"] for p in gpu["prices"]] == ["live", "live", "catalog"]
    assert gpu["prices"][0]["source"] == live.AWS_SOURCE
    cache = json.loads((offline_prices / "aws-us-east-1.json").read_text())
    assert cache["readOn"] == "2026-12-06" and set(cache["prices"]) == {"instance/g5.2xlarge", "instance/g6.2xlarge"}
    # The program puts the fresh cache into costBasis: the plan (and so the policy pack) prices it the same.
    again = cost_json(project, capsys, "prod-aws", "--no-live")
    assert again["livePrices"] == ["instance/g5.2xlarge", "instance/g6.2xlarge"]
    assert again["monthly"] == document["monthly"]
    monkeypatch.setenv("MLP_TODAY", "2026-12-20")  # older than liveMaxDays: the catalog prices it
    assert cost_json(project, capsys, "prod-aws", "--no-live")["livePrices"] == []


def test_the_cost_change_against_an_earlier_preview_shows_ranges(aws_project, capsys):
    project = aws_project
    out_dir = project / "build"
    assert main(["--project-dir", str(project), "preview", "-s", "prod-aws", "--out", str(out_dir), "--no-policy"]) == 0
    set_pool(project, "prod-aws", "gpu", maxSize=20)
    capsys.readouterr()
    assert main(["--project-dir", str(project), "cost", "-s", "prod-aws", "--against", str(out_dir / "prod-aws")]) == 0
    out = capsys.readouterr().out
    assert "~ node pool gpu-nodepool: 0.00 .. 5,308.56 -> 0.00 .. 17,695.20" in out
    assert (
        "(0..6 x g5.2xlarge | g6.2xlarge, spot (Karpenter) -> 0..20 x g5.2xlarge | g6.2xlarge, spot (Karpenter))" in out
    )
    assert "Monthly cost (USD): " in out and "(0.00 .. +12,386.64)" in out
    assert "  2 item(s) have no price and are not counted: prod-aws-observability-seldon-metrics: scraper hours" in out
