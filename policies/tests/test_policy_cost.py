"""budget: the plan's estimated monthly maximum against ml-platform:budget (from the stack output costBasis)."""

from mlpolicies.cost import budget
from policy_harness import UNKNOWN, check_stack, stack_resource

STACK = "pulumi:pulumi:Stack"
ACK = "alicloud:cs/managedKubernetes:ManagedKubernetes"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def root(budget_usd=None, cloud="alicloud", region="cn-hangzhou", stack="prod"):
    basis = {
        "cloud": cloud,
        "region": region,
        "budget": None if budget_usd is None else {"monthlyMax": budget_usd, "currency": "USD"},
        "storageGb": {},
        "logGbPerMonth": 30,
        "trainingHoursPerMonth": 24,
    }
    return stack_resource(STACK, {"environment": stack, "costBasis": basis}, stack=stack, name=f"ml-platform-{stack}")


def ack_cluster(stack="prod"):
    # ACK Pro fee 0.09/h and an Internet NAT gateway 0.034/h in cn-hangzhou: 90.52 a month.
    return stack_resource(
        ACK, {"clusterSpec": "ack.pro.small", "newNatGateway": True}, stack=stack, name=f"{stack}-cluster"
    )


def gpu_group(max_size=6):
    # 1..max_size g5.xlarge on-demand in us-east-1 (1.006/h): up to 4,406.28 a month at 6 nodes.
    props = {
        "instanceTypes": ["g5.xlarge"],
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "maxSize": max_size, "desiredSize": 1},
    }
    return stack_resource(NODE_GROUP, props, name="prod-gpu")


def test_a_plan_within_its_budget_passes():
    assert check_stack(budget, [root(budget_usd=500), ack_cluster()]) == []


def test_a_plan_over_its_budget_is_reported_with_what_drives_it():
    [message] = check_stack(budget, [root(budget_usd=50), ack_cluster()])
    assert message.startswith("stack prod: the plan costs 90.52 to 90.52 USD a month, over its budget of 50.00 USD")
    assert "Driven by: prod-cluster (cluster fee) up to 90.52" in message
    assert "have no price in the catalog" in message  # the API server's CLB and NAT capacity units


def test_the_maximum_counts_a_node_pool_at_its_largest():
    resources = [root(budget_usd=1000, cloud="aws", region="us-east-1"), gpu_group(max_size=6)]
    [message] = check_stack(budget, resources)
    assert "734.38 to 4,406.28 USD a month" in message
    assert "prod-gpu (node pool) up to 4,406.28" in message
    assert check_stack(budget, [root(budget_usd=1000, cloud="aws", region="us-east-1"), gpu_group(max_size=1)]) == []


def test_no_budget_means_the_policy_does_not_apply():
    assert check_stack(budget, [root(budget_usd=None), ack_cluster()]) is None


def test_a_pool_size_unknown_during_preview_is_not_guessed():
    props = {
        "instanceTypes": ["g5.xlarge"],
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "maxSize": UNKNOWN},
    }
    resources = [
        root(budget_usd=10, cloud="aws", region="us-east-1"),
        stack_resource(NODE_GROUP, props, name="prod-gpu"),
    ]
    assert check_stack(budget, resources) == []
