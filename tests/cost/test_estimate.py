"""Pricing a plan: node pools as a range, fixed fees, sized buckets, what is unpriced, budgets (no engine needed)."""

import copy
from datetime import date

import pytest

from mlplatform.cost import estimate, load_catalog
from mlplatform.cost.report import change, format_change, format_text

HOURS = 730


def record(stack, type_, name, inputs):
    return {"urn": f"urn:pulumi:{stack}::ml-platform::{type_}::{name}", "type": type_, "custom": True, "inputs": inputs}


def basis(cloud="alicloud", region="cn-hangzhou", budget=None, storage=None):
    return {
        "costBasis": {
            "cloud": cloud,
            "region": region,
            "budget": budget,
            "storageGb": storage or {},
            "logGbPerMonth": 30,
            "trainingHoursPerMonth": 24,
        }
    }


def ack_pool(name="prod-gpu", types=("ecs.gn7i-c8g1.2xlarge", "ecs.gn7i-c16g1.4xlarge"), low=1, high=6, spot=True):
    return record(
        "prod",
        "alicloud:cs/nodePool:NodePool",
        name,
        {
            "instanceTypes": list(types),
            "scalingConfig": {"enable": True, "minSize": low, "maxSize": high},
            "spotStrategy": "SpotAsPriceGo" if spot else "NoSpot",
        },
    )


@pytest.fixture
def priced_catalog():
    """The shipped catalog with two made-up ECS prices, to check the arithmetic (not a real price)."""
    catalog = copy.deepcopy(load_catalog())
    catalog["prices"]["alicloud"]["instance"]["cn-hangzhou"] = {
        "usd": {"ecs.gn7i-c8g1.2xlarge": 1.0, "ecs.gn7i-c16g1.4xlarge": 2.0},
        "per": "hour",
        "source": "https://example.com/test",
        "readOn": "2026-11-30",
        "note": "test",
    }
    return catalog


def test_a_spot_pool_ranges_from_min_nodes_at_the_deepest_discount_to_max_nodes_on_demand(priced_catalog):
    result = estimate([ack_pool()], basis(), catalog=priced_catalog)
    [line] = result.lines
    assert (line.kind, line.detail) == ("node pool", "1..6 x ecs.gn7i-c8g1.2xlarge | ecs.gn7i-c16g1.4xlarge, spot")
    assert line.low == pytest.approx(1 * 1.0 * 0.1 * HOURS)  # up to 90% off the cheapest type
    assert line.high == pytest.approx(6 * 2.0 * HOURS)  # the dearest type on demand: spot never costs more
    assert {p["source"] for p in line.prices} == {
        "https://example.com/test",
        "https://www.alibabacloud.com/help/en/ecs/spot-instance",
    }


def test_an_on_demand_pool_is_priced_at_its_sizes(priced_catalog):
    result = estimate(
        [ack_pool(types=("ecs.gn7i-c8g1.2xlarge",), low=2, high=4, spot=False)], basis(), catalog=priced_catalog
    )
    assert (result.low, result.high) == (2 * HOURS, 4 * HOURS)


def test_a_pool_without_prices_is_itemised_and_named_unpriced_never_zero():
    result = estimate([ack_pool()], basis())
    [line] = result.lines
    assert line.as_json()["monthly"] is None
    assert [(m.item, m.key) for m in line.unpriced] == [
        ("on-demand price of ecs.gn7i-c8g1.2xlarge in cn-hangzhou", "instance/ecs.gn7i-c8g1.2xlarge"),
        ("on-demand price of ecs.gn7i-c16g1.4xlarge in cn-hangzhou", "instance/ecs.gn7i-c16g1.4xlarge"),
    ]
    document = result.as_json()
    assert [u["lines"] for u in document["unpriced"]] == [["prod-gpu"], ["prod-gpu"]]
    assert "DescribePrice" in document["unpriced"][0]["why"]
    text = format_text(result)
    assert "Unpriced, not in the total (2):" in text
    assert "ml-platform:costAssumptions.prices: 'instance/ecs.gn7i-c8g1.2xlarge'" in text


def test_a_pool_that_could_run_an_unpriced_type_is_not_half_priced(priced_catalog):
    result = estimate([ack_pool(types=("ecs.gn7i-c8g1.2xlarge", "ecs.gn8is.2xlarge"))], basis(), catalog=priced_catalog)
    [line] = result.lines
    assert (line.low, line.high) == (0.0, 0.0)
    assert [missing.key for missing in line.unpriced] == ["instance/ecs.gn8is.2xlarge"]


def test_cluster_fees_nat_gateway_and_buckets_come_with_their_sources():
    resources = [
        record(
            "prod",
            "alicloud:cs/managedKubernetes:ManagedKubernetes",
            "prod-cluster",
            {"clusterSpec": "ack.pro.small", "newNatGateway": True},
        ),
        record("prod", "alicloud:oss/bucket:Bucket", "prod-datasets", {"bucket": "mlp-prod-datasets-hz"}),
        record("prod", "alicloud:oss/bucket:Bucket", "prod-models", {"bucket": "mlp-prod-models-hz"}),
    ]
    result = estimate(resources, basis(storage={"mlp-prod-datasets-hz": 1000}))
    cluster, datasets, models = result.lines
    assert cluster.low == cluster.high == pytest.approx((0.09 + 0.034) * HOURS)
    assert [p["item"] for p in cluster.prices] == [
        "ACK ack.pro.small management fee",
        "Internet NAT gateway instance fee",
    ]
    assert [m.key for m in cluster.unpriced] == ["loadBalancer/clb"]  # the API server's CLB
    assert "NAT gateway capacity units (CU)" in cluster.usage  # follows traffic: named, not estimated
    assert datasets.high == pytest.approx(1000 * 0.0173)
    assert [str(m) for m in models.unpriced] == ["bucket size (unknown: set it in ml-platform:costAssumptions)"]


@pytest.mark.parametrize(
    ("version", "today", "fee", "support"),
    [
        ("1.31", date(2026, 11, 30), 0.60, "extended"),  # standard support ended 2025-11-26
        ("1.31", date(2025, 1, 1), 0.10, "standard"),
    ],
)
def test_an_eks_cluster_pays_extended_support_once_its_version_leaves_standard_support(version, today, fee, support):
    resources = [record("prod", "aws:eks/cluster:Cluster", "prod-cluster", {"version": version})]
    [line] = estimate(resources, basis("aws", "us-west-2"), today=today).lines
    assert line.low == line.high == pytest.approx(fee * HOURS)
    assert f"in {support} support (standard support ends 2025-11-26)" in line.detail


def test_an_eks_version_missing_from_the_calendar_is_priced_at_both_fees():
    resources = [record("prod", "aws:eks/cluster:Cluster", "prod-cluster", {"version": "1.35"})]
    [line] = estimate(resources, basis("aws", "us-west-2")).lines
    assert (line.low, line.high) == (pytest.approx(0.10 * HOURS), pytest.approx(0.60 * HOURS))


def test_eks_node_groups_in_us_east_1_are_priced_from_aws_published_prices():
    group = record(
        "prod",
        "aws:eks/nodeGroup:NodeGroup",
        "prod-gpu",
        {"instanceTypes": ["g5.xlarge"], "capacityType": "ON_DEMAND", "scalingConfig": {"minSize": 1, "maxSize": 6}},
    )
    [line] = estimate([group], basis("aws", "us-east-1")).lines
    assert (line.low, line.high) == (pytest.approx(1.006 * HOURS), pytest.approx(6 * 1.006 * HOURS))
    [line] = estimate([group], basis("aws", "eu-west-1")).lines
    assert line.unpriced and not line.priced


def test_load_balancers_are_named_unpriced():
    service = record(
        "prod",
        "kubernetes:core/v1:Service",
        "notebook-lb",
        {"kind": "Service", "metadata": {"name": "nb", "namespace": "notebooks"}, "spec": {"type": "LoadBalancer"}},
    )
    release = record(
        "prod",
        "kubernetes:helm.sh/v3:Release",
        "prod-operators-emissary-ingress",
        {"chart": "emissary-ingress", "values": {"service": {"type": "LoadBalancer"}}},
    )
    lines = estimate([service, release], basis()).lines
    assert [(line.name, line.kind) for line in lines] == [
        ("notebook-lb", "load balancer"),
        ("prod-operators-emissary-ingress", "load balancer"),
    ]
    assert all(line.unpriced and not line.priced for line in lines)


def test_serverless_workloads_are_grouped_by_namespace_and_workload():
    cluster = record("dev", "alicloud:cs/serverlessKubernetes:ServerlessKubernetes", "dev-cluster", {})
    container = {"name": "main", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
    job = record(
        "dev",
        "kubernetes:kubeflow.org/v1:TFJob",
        "color-training",
        {
            "kind": "TFJob",
            "metadata": {"name": "color-training", "namespace": "training"},
            "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 3, "template": {"spec": {"containers": [container]}}}}},
        },
    )
    lines = estimate([cluster, job], basis()).lines
    assert lines[-1].group == "training/color-training"
    assert lines[-1].detail.startswith("TFJob pods: 1.5 vCPU, 3 GiB requested, until done")
    assert "training/color-training" in estimate([cluster, job], basis()).groups()


def test_a_budget_below_the_maximum_names_the_items_that_drive_it(priced_catalog):
    priced_catalog["prices"]["alicloud"]["loadBalancer"]["clb"] = {
        "usd": 0.0,
        "per": "hour",
        "regions": "*",
        "source": "https://example.com/test",
        "readOn": "2026-11-30",
    }
    resources = [
        ack_pool(),
        record(
            "prod", "alicloud:cs/managedKubernetes:ManagedKubernetes", "prod-cluster", {"clusterSpec": "ack.pro.small"}
        ),
    ]
    result = estimate(resources, basis(budget={"monthlyMax": 5000, "currency": "USD"}), catalog=priced_catalog)
    assert result.over_budget()  # 6 x 2.0 x 730 = 8,760 for the GPU pool alone
    message = result.budget_message()
    assert "over its budget of 5,000.00 USD (ml-platform:budget.monthlyMax)" in message
    assert "Driven by: prod-gpu (node pool) up to 8,760.00, prod-cluster (cluster fee) up to 65.70." in message
    within = estimate(resources, basis(budget={"monthlyMax": 9000, "currency": "USD"}), catalog=priced_catalog)
    assert not within.over_budget() and within.budget_message() == ""
    assert within.as_json()["budget"] == {
        "monthlyMax": 9000.0,
        "currency": "USD",
        "exceeded": False,
        "verdict": "within",
    }


def test_the_cost_change_of_a_larger_gpu_pool_is_shown_even_when_unpriced():
    base = estimate([ack_pool(high=6)], basis())
    head = estimate([ack_pool(high=20)], basis())
    cost = change(base, head)
    [line] = cost["lines"]
    assert (line["name"], line["change"]) == ("gpu", "~")
    text = format_change(cost)
    assert "~ node pool gpu: unpriced (1..6 x" in text and "-> 1..20 x ecs.gn7i-c8g1.2xlarge" in text


def test_a_karpenter_pool_ranges_from_zero_to_its_node_limit():
    pool = record(
        "prod",
        "kubernetes:karpenter.sh/v1:NodePool",
        "prod-gpu-nodepool",
        {
            "spec": {
                "template": {
                    "spec": {
                        "requirements": [
                            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5.xlarge"]},
                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        ]
                    }
                },
                "limits": {"nodes": 4},
            }
        },
    )
    [line] = estimate([pool], basis("aws", "us-east-1")).lines
    assert line.detail == "0..4 x g5.xlarge, on-demand (Karpenter)"
    assert (line.low, line.high) == (0.0, pytest.approx(4 * 1.006 * HOURS))


def test_lines_are_summed_per_team_through_the_basis():
    from mlplatform.cost.billing import Line
    from mlplatform.cost.pricing import Estimate

    lines = [
        Line("color", "serverless pods", "", low=10, high=20, group="vision-models/color"),
        Line("cluster", "cluster fee", "", low=5, high=5),
    ]
    result = Estimate(
        stack="dev",
        cloud="alicloud",
        region="cn-hangzhou",
        currency="USD",
        hours_per_month=730,
        catalog_read_on="2026-11-30",
        lines=lines,
        basis={"teams": {"vision-models": "vision"}},
    )
    assert result.groups() == {
        "vision": {"min": 10.0, "max": 20.0, "lines": 1, "unpricedLines": 0},
        "platform": {"min": 5.0, "max": 5.0, "lines": 1, "unpricedLines": 0},
    }


def karpenter(types, capacity, nodes):
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity},
    ]
    spec = {"template": {"spec": {"requirements": requirements}}, "limits": {"nodes": nodes}}
    return record("prod-aws", "kubernetes:karpenter.sh/v1:NodePool", "prod-aws-gpu-nodepool", {"spec": spec})


def test_a_karpenter_spot_pool_ranges_over_its_instance_types_with_the_spot_discount():
    pool = karpenter(["g5.2xlarge", "g6.2xlarge"], ["spot", "on-demand"], 6)
    [line] = estimate([pool], basis("aws", "us-east-1")).lines
    assert (line.low, line.high) == (0.0, pytest.approx(6 * 1.212 * HOURS))  # g5.2xlarge, the dearest
    assert [p["item"] for p in line.prices] == [
        "g5.2xlarge on-demand",
        "g6.2xlarge on-demand",
        "spot price as a share of on-demand",
    ]
    assert all(p["source"].startswith("https://") and p["readOn"] for p in line.prices)


def test_aws_nat_gateways_addresses_load_balancers_and_buckets_are_priced_in_us_east_1():
    resources = [
        record("prod-aws", "aws:ec2/natGateway:NatGateway", "nat-a", {}),
        record("prod-aws", "aws:ec2/eip:Eip", "nat-ip-a", {}),
        record("prod-aws", "aws:s3/bucket:Bucket", "datasets", {"bucket": "mlp-datasets"}),
        record(
            "prod-aws",
            "kubernetes:core/v1:Service",
            "ingress-lb",
            {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}},
        ),
        record("prod-aws", "aws:amp/workspace:Workspace", "metrics", {}),
    ]
    nat, address, bucket, lb, metrics = estimate(
        resources, basis("aws", "us-east-1", storage={"mlp-datasets": 500})
    ).lines
    assert nat.high == pytest.approx(0.045 * HOURS) and nat.usage == ["NAT gateway data processed per GB"]
    assert address.high == pytest.approx(0.005 * HOURS)
    assert bucket.high == pytest.approx(500 * 0.023)
    assert (lb.detail, lb.high) == ("a Classic Load Balancer for a LoadBalancer Service", pytest.approx(0.025 * HOURS))
    assert (metrics.high, metrics.unpriced) == (0.0, [])  # no fixed fee: ingestion and storage follow usage
    elsewhere = estimate(resources[:1], basis("aws", "eu-west-1")).lines[0]
    assert [m.key for m in elsewhere.unpriced] == ["natGateway/managed"]


def test_a_supplied_price_fills_a_gap_and_a_live_price_wins_over_the_catalog():
    supplied = {"instance/ecs.g7.xlarge": {"usd": 0.2, "per": "hour", "source": "https://example.com/contract"}}
    pool = ack_pool("prod-system", ("ecs.g7.xlarge",), 2, 4, spot=False)
    document = basis()
    document["costBasis"]["prices"] = supplied
    [line] = estimate([pool], document).lines
    assert (line.low, line.high) == (pytest.approx(2 * 0.2 * HOURS), pytest.approx(4 * 0.2 * HOURS))
    assert line.prices[0]["origin"] == "assumption" and line.prices[0]["readOn"] == "no date given"
    live = {"instance/g5.xlarge": {"usd": 2.0, "per": "hour", "source": "https://api.pricing.us-east-1.amazonaws.com"}}
    group = record(
        "prod",
        "aws:eks/nodeGroup:NodeGroup",
        "prod-gpu",
        {"instanceTypes": ["g5.xlarge"], "capacityType": "ON_DEMAND", "scalingConfig": {"minSize": 1, "maxSize": 1}},
    )
    result = estimate([group], basis("aws", "us-east-1"), live=live)
    assert result.high == pytest.approx(2.0 * HOURS) and result.lines[0].prices[0]["origin"] == "live"
    assert result.as_json()["livePrices"] == ["instance/g5.xlarge"]


def test_an_unpriced_item_fails_the_budget_closed_even_below_the_priced_maximum(priced_catalog):
    result = estimate([ack_pool(types=("ecs.g7.xlarge",))], basis(budget={"monthlyMax": 5000}))
    assert (result.high, result.budget_verdict()) == (0.0, "unknown")
    assert "cannot show the plan within its budget of 5,000.00 USD" in result.budget_message()
    assert "NOT SHOWN" in format_text(result)
