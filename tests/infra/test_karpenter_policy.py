"""Karpenter's controller policy is upstream's v1.14.1 statements, and its interruption plumbing holds no null.

The expected statements are aws/karpenter-provider-aws@v1.14.1
`website/content/en/docs/getting-started/getting-started-with-karpenter/cloudformation.yaml` (the six
KarpenterController*Policy documents), with its `!Sub` values filled in for the sample cluster below.
"""

import copy
import dataclasses
import json

from mlplatform.conventions import COMPUTED
from mlplatform.infra.karpenter import (
    OMITTED,
    ControllerScope,
    Karpenter,
    KarpenterArgs,
    controller_policy,
    upstream_statements,
)

SAMPLE = ControllerScope(
    partition="aws",
    region="us-west-2",
    account="111122223333",
    cluster_name="c",
    cluster_arn="arn:aws:eks:us-west-2:111122223333:cluster/c",
    node_role_arn="arn:aws:iam::111122223333:role/KarpenterNodeRole-c",
    queue_arn="arn:aws:sqs:us-west-2:111122223333:c",
)
LAUNCHED = [
    "arn:aws:ec2:us-west-2:*:fleet/*",
    "arn:aws:ec2:us-west-2:*:instance/*",
    "arn:aws:ec2:us-west-2:*:volume/*",
    "arn:aws:ec2:us-west-2:*:network-interface/*",
    "arn:aws:ec2:us-west-2:*:launch-template/*",
    "arn:aws:ec2:us-west-2:*:spot-instances-request/*",
]
PROFILES = ["arn:aws:iam::111122223333:instance-profile/*"]
OWNED = {"aws:ResourceTag/kubernetes.io/cluster/c": "owned"}
OWNED_BY_A_NODEPOOL = {"StringEquals": OWNED, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}
TAGGED = {"aws:RequestTag/kubernetes.io/cluster/c": "owned", "aws:RequestTag/eks:eks-cluster-name": "c"}
PROFILE_OWNED = {**OWNED, "aws:ResourceTag/topology.kubernetes.io/region": "us-west-2"}
PROFILE_TAGGED = {**TAGGED, "aws:RequestTag/topology.kubernetes.io/region": "us-west-2"}
# Sid -> (actions, resources, condition), in upstream's order.
UPSTREAM = {
    "AllowScopedEC2InstanceAccessActions": (
        ["ec2:RunInstances", "ec2:CreateFleet"],
        [
            "arn:aws:ec2:us-west-2::image/*",
            "arn:aws:ec2:us-west-2::snapshot/*",
            "arn:aws:ec2:us-west-2:*:security-group/*",
            "arn:aws:ec2:us-west-2:*:subnet/*",
            "arn:aws:ec2:us-west-2:*:capacity-reservation/*",
            "arn:aws:ec2:us-west-2:*:placement-group/*",
        ],
        None,
    ),
    "AllowScopedEC2LaunchTemplateAccessActions": (
        ["ec2:RunInstances", "ec2:CreateFleet"],
        ["arn:aws:ec2:us-west-2:*:launch-template/*"],
        OWNED_BY_A_NODEPOOL,
    ),
    "AllowScopedEC2InstanceActionsWithTags": (
        ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
        LAUNCHED,
        {"StringEquals": TAGGED, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
    ),
    "AllowScopedResourceCreationTagging": (
        ["ec2:CreateTags"],
        LAUNCHED,
        {
            "StringEquals": {**TAGGED, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
            "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
        },
    ),
    "AllowScopedResourceTagging": (
        ["ec2:CreateTags"],
        ["arn:aws:ec2:us-west-2:*:instance/*"],
        {
            **OWNED_BY_A_NODEPOOL,
            "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": "c"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
        },
    ),
    "AllowScopedDeletion": (
        ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
        ["arn:aws:ec2:us-west-2:*:instance/*", "arn:aws:ec2:us-west-2:*:launch-template/*"],
        OWNED_BY_A_NODEPOOL,
    ),
    "AllowPassingInstanceRole": (
        ["iam:PassRole"],
        ["arn:aws:iam::111122223333:role/KarpenterNodeRole-c"],
        {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
    ),
    "AllowScopedInstanceProfileCreationActions": (
        ["iam:CreateInstanceProfile"],
        PROFILES,
        {"StringEquals": PROFILE_TAGGED, "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}},
    ),
    "AllowScopedInstanceProfileTagActions": (
        ["iam:TagInstanceProfile"],
        PROFILES,
        {
            "StringEquals": {**PROFILE_OWNED, **PROFILE_TAGGED},
            "StringLike": {
                "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
            },
        },
    ),
    "AllowScopedInstanceProfileActions": (
        ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
        PROFILES,
        {"StringEquals": PROFILE_OWNED, "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}},
    ),
    "AllowAPIServerEndpointDiscovery": (
        ["eks:DescribeCluster"],
        ["arn:aws:eks:us-west-2:111122223333:cluster/c"],
        None,
    ),
    "AllowInterruptionQueueActions": (
        ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
        ["arn:aws:sqs:us-west-2:111122223333:c"],
        None,
    ),
    "AllowZonalShiftStatusReadOnly": (
        ["arc-zonal-shift:GetManagedResource"],
        ["*"],
        {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": "arn:aws:eks:us-west-2:111122223333:cluster/c"}},
    ),
    "AllowRegionalReadActions": (
        [
            "ec2:DescribeCapacityReservations",
            "ec2:DescribeImages",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribePlacementGroups",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSpotPriceHistory",
            "ec2:DescribeSubnets",
        ],
        ["*"],
        {"StringEquals": {"aws:RequestedRegion": "us-west-2"}},
    ),
    "AllowSSMReadActions": (["ssm:GetParameter"], ["arn:aws:ssm:us-west-2::parameter/aws/service/*"], None),
    "AllowPricingReadActions": (["pricing:GetProducts"], ["*"], None),
    "AllowUnscopedInstanceProfileListAction": (["iam:ListInstanceProfiles"], ["*"], None),
    "AllowInstanceProfileReadActions": (["iam:GetInstanceProfile"], PROFILES, None),
}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def differences(statements: list[dict], expected: dict) -> list[str]:
    """How `statements` differ from `expected` (Sid -> actions, resources, condition), Sid by Sid."""
    found = [statement.get("Sid") for statement in statements]
    problems = [f"{sid}: missing" for sid in expected if sid not in found]
    problems += [f"{sid}: not upstream's" for sid in found if sid not in expected]
    for statement in (s for s in statements if s.get("Sid") in expected):
        sid, (actions, resources, condition) = statement["Sid"], expected[statement["Sid"]]
        if statement.get("Effect") != "Allow":
            problems.append(f"{sid}: effect {statement.get('Effect')}")
        if _listed(statement.get("Action")) != actions:
            problems.append(f"{sid}: actions {statement.get('Action')}")
        if _listed(statement.get("Resource")) != resources:
            problems.append(f"{sid}: resources {statement.get('Resource')}")
        if statement.get("Condition") != condition:
            problems.append(f"{sid}: condition {statement.get('Condition')}")
    if [sid for sid in found if sid in expected] != [sid for sid in expected if sid in found]:
        problems.append("statements out of upstream's order")
    return problems


def test_the_controller_statements_are_upstreams_sid_by_sid():
    assert differences(upstream_statements(SAMPLE), UPSTREAM) == []


def test_the_controller_policy_is_upstream_less_the_cited_omissions():
    policy = json.loads(controller_policy(SAMPLE))
    assert policy["Version"] == "2012-10-17"
    kept = {sid: statement for sid, statement in UPSTREAM.items() if sid not in OMITTED}
    assert differences(policy["Statement"], kept) == []
    # Every omission names an upstream statement and says why.
    assert set(OMITTED) <= set(UPSTREAM)
    assert all(len(reason) > 40 for reason in OMITTED.values())


def test_a_removed_or_widened_statement_is_caught():
    def changed(change) -> list[str]:
        statements = copy.deepcopy(upstream_statements(SAMPLE))
        change({s["Sid"]: s for s in statements}, statements)
        return differences(statements, UPSTREAM)

    # TerminateInstances on any instance tagged for the cluster, not only Karpenter's NodePools' ones.
    assert changed(lambda by_sid, _: by_sid["AllowScopedDeletion"]["Condition"].pop("StringLike")) == [
        "AllowScopedDeletion: condition {'StringEquals': {'aws:ResourceTag/kubernetes.io/cluster/c': 'owned'}}"
    ]
    assert changed(lambda _, statements: statements.pop(4)) == ["AllowScopedResourceTagging: missing"]
    assert changed(lambda by_sid, _: by_sid["AllowScopedInstanceProfileActions"].update(Resource="*")) == [
        "AllowScopedInstanceProfileActions: resources *"
    ]
    assert changed(lambda by_sid, _: by_sid["AllowPricingReadActions"].update(Action="pricing:*")) == [
        "AllowPricingReadActions: actions pricing:*"
    ]
    assert changed(lambda by_sid, _: by_sid["AllowRegionalReadActions"]["Action"].remove("ec2:DescribeInstanceStatus"))


def test_the_inline_policy_fits_iams_role_limit_for_the_longest_cluster_name():
    # IAM quotas: a role's inline policies total at most 10,240 characters (whitespace not counted);
    # EKS cluster names have at most 100 characters.
    name = "n" * 100
    scope = dataclasses.replace(SAMPLE, cluster_name=name, cluster_arn=f"{SAMPLE.cluster_arn}{name}")
    assert len(json.dumps(json.loads(controller_policy(scope)), separators=(",", ":"))) < 10_240


def _nulls(value, path: str = "") -> list[str]:
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [null for key, item in value.items() for null in _nulls(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [null for index, item in enumerate(value) for null in _nulls(item, f"{path}[{index}]")]
    return []


def test_the_interruption_queue_its_rules_and_the_controller_policy_hold_no_null(plan):
    def program():
        Karpenter("k", KarpenterArgs(cluster_name="c", cluster_arn=COMPUTED, region="us-west-2"))

    monitor = plan(program)
    karpenter = [r for r in monitor.registrations.values() if r.type.startswith(("aws:", "kubernetes:"))]
    assert [(r.name, path) for r in karpenter for path in _nulls(r.inputs)] == []
    [queue_policy] = monitor.of_type("aws:sqs/queuePolicy:QueuePolicy")
    assert queue_policy.inputs["queueUrl"] == COMPUTED
    document = json.loads(queue_policy.inputs["policy"])
    assert document["Id"] == "EC2InterruptionPolicy"
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in document["Statement"]] == [
        ("Allow", "sqs:SendMessage", COMPUTED),
        ("Deny", "sqs:*", COMPUTED),
    ]
    assert document["Statement"][1]["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    targets = monitor.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 5
    for target in targets:
        assert target.inputs == {"rule": COMPUTED, "arn": COMPUTED, "targetId": "KarpenterInterruptionQueueTarget"}
    [release] = [r for r in monitor.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "karpenter"]
    # The zonal-shift statement is omitted only while the controller does not look at zonal shifts.
    assert "AllowZonalShiftStatusReadOnly" in OMITTED
    assert "enableZonalShift" not in release.inputs["values"]["settings"]
