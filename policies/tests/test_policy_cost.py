"""budget: the plan's estimated monthly maximum against ml-platform:budget (from the stack output costBasis).

It fails closed: what the estimate cannot price could cost more than the budget leaves.
"""

from mlpolicies.cost import budget
from policy_harness import UNKNOWN, check_stack, stack_resource

STACK = "pulumi:pulumi:Stack"
ACK = "alicloud:cs/managedKubernetes:ManagedKubernetes"
ACK_POOL = "alicloud:cs/nodePool:NodePool"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
# A price as ml-platform:costAssumptions.prices supplies it (a made-up number for the arithmetic).
CLB = {"loadBalancer/clb": {"usd": 0.01, "per": "hour", "source": "https://example.com/clb", "readOn": "2026-12-01"}}


def root(budget_usd=None, cloud="alicloud", region="cn-hangzhou", stack="prod", prices=None, live=None):
    basis = {
        "cloud": cloud,
        "region": region,
        "budget": None if budget_usd is None else {"monthlyMax": budget_usd, "currency": "USD"},
        "storageGb": {},
        "logGbPerMonth": 30,
        "trainingHoursPerMonth": 24,
        "prices": prices or {},
        "livePrices": live or {},
    }
    return stack_resource(STACK, {"environment": stack, "costBasis": basis}, stack=stack, name=f"ml-platform-{stack}")


def ack_cluster(stack="prod"):
    # ACK Pro fee 0.09/h, an Internet NAT gateway 0.034/h and the API server's CLB (0.01/h supplied): 97.82 a month.
    return stack_resource(
        ACK, {"clusterSpec": "ack.pro.small", "newNatGateway": True}, stack=stack, name=f"{stack}-cluster"
    )


def ack_gpu_pool(max_size=6):
    props = {
        "instanceTypes": ["ecs.gn7i-c8g1.2xlarge"],
        "scalingConfig": {"minSize": 1, "maxSize": max_size},
        "spotStrategy": "NoSpot",
    }
    return stack_resource(ACK_POOL, props, name="prod-gpu")


def gpu_group(max_size=6):
    # 1..max_size g5.xlarge on-demand in us-east-1 (1.006/h): up to 4,406.28 a month at 6 nodes.
    props = {
        "instanceTypes": ["g5.xlarge"],
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "maxSize": max_size, "desiredSize": 1},
    }
    return stack_resource(NODE_GROUP, props, name="prod-gpu")


def test_a_plan_within_its_budget_and_fully_priced_passes():
    assert check_stack(budget, [root(budget_usd=500, prices=CLB), ack_cluster()]) == []
    assert check_stack(budget, [root(budget_usd=1000, cloud="aws", region="us-east-1"), gpu_group(max_size=1)]) == []


def test_a_plan_over_its_budget_is_reported_with_what_drives_it():
    [message] = check_stack(budget, [root(budget_usd=50, prices=CLB), ack_cluster()])
    assert message.startswith("stack prod: the plan costs 97.82 to 97.82 USD a month, over its budget of 50.00 USD")
    assert "Driven by: prod-cluster (cluster fee) up to 97.82" in message


def test_the_maximum_counts_a_node_pool_at_its_largest():
    resources = [root(budget_usd=1000, cloud="aws", region="us-east-1"), gpu_group(max_size=6)]
    [message] = check_stack(budget, resources)
    assert "734.38 to 4,406.28 USD a month" in message
    assert "prod-gpu (node pool) up to 4,406.28" in message


def test_no_budget_means_the_policy_does_not_apply():
    assert check_stack(budget, [root(budget_usd=None), ack_cluster()]) is None


def test_an_unpriced_gpu_pool_fails_closed_naming_the_price_to_supply():
    [message] = check_stack(budget, [root(budget_usd=5000, prices=CLB), ack_cluster(), ack_gpu_pool()])
    assert message.startswith(
        "stack prod: cannot show the plan within its budget of 5,000.00 USD (ml-platform:budget.monthlyMax): "
        "the priced lines cost up to 97.82, leaving 4,902.18, and 1 item(s) have no price"
    )
    assert "on-demand price of ecs.gn7i-c8g1.2xlarge in cn-hangzhou (prod-gpu)" in message
    assert "ml-platform:costAssumptions.prices: 'instance/ecs.gn7i-c8g1.2xlarge'" in message
    assert "`mlp cost --live`" in message


def test_a_supplied_price_prices_the_pool_and_sixty_nodes_exceed_the_budget():
    gpu = {"instance/ecs.gn7i-c8g1.2xlarge": {"usd": 1.5, "per": "hour", "source": "https://example.com/ecs"}}
    prices = {**CLB, **gpu}
    assert check_stack(budget, [root(budget_usd=10000, prices=prices), ack_cluster(), ack_gpu_pool(6)]) == []
    [message] = check_stack(budget, [root(budget_usd=5000, prices=prices), ack_cluster(), ack_gpu_pool(60)])
    assert "over its budget of 5,000.00 USD" in message
    assert "prod-gpu (node pool) up to 65,700.00" in message  # 60 x 1.5 x 730


def test_live_prices_in_the_basis_price_the_pool():
    live = {
        "instance/ecs.gn7i-c8g1.2xlarge": {"usd": 1.5, "per": "hour", "source": "https://ecs.cn-hangzhou.aliyuncs.com"}
    }
    assert check_stack(budget, [root(budget_usd=10000, prices=CLB, live=live), ack_cluster(), ack_gpu_pool()]) == []


def test_a_pool_size_unknown_during_preview_fails_closed():
    props = {
        "instanceTypes": ["g5.xlarge"],
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "maxSize": UNKNOWN},
    }
    resources = [
        root(budget_usd=10, cloud="aws", region="us-east-1"),
        stack_resource(NODE_GROUP, props, name="prod-gpu"),
    ]
    [message] = check_stack(budget, resources)
    assert "pool size (prod-gpu): unknown until apply" in message
    assert "A quantity the plan does not give is priced once it is known or set." in message
