"""Permissions as data: every resource type the program can plan has a sourced row in bootstrap/permissions.json,
and the deploy role bootstrap derives for a stack's cloud grants every action of every type that stack plans,
may attach every managed policy it attaches and writes every RAM role and policy it names."""

from __future__ import annotations

import ast
import importlib
import json
import re
import runpy
from fnmatch import fnmatchcase
from pathlib import Path

import pulumi
import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = runpy.run_path(str(ROOT / "bootstrap" / "__main__.py"), run_name="bootstrap_program")
PERMISSIONS = BOOTSTRAP["PERMISSIONS"]
NO_CLOUD_ACTION = set(PERMISSIONS["noCloudAction"]["packages"])
STACKS = {"dev": "alicloud", "prod": "alicloud", "dev-aws": "aws", "prod-aws": "aws"}
PROVIDERS = {"pulumi_aws", "pulumi_alicloud", "pulumi_random"}
# Quotas on the derived documents: IAM counts an inline role policy without white space, RAM every character.
# docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html ("Role policy size": 10,240);
# alibabacloud.com/help/en/resource-management/api-createpolicy (PolicyDocument: 1 to 6,144 characters).
AWS_INLINE_POLICY_LIMIT, RAM_POLICY_LIMIT = 10_240, 6_144


def settings(**overrides):
    values = {
        "repository": "acme/ml-platform",
        "subject_repository": "acme/ml-platform",
        "stacks": (),
        "name_prefix": "ml-platform-ci",
        "max_session_duration": 3600,
        "aws": {},
        "alicloud": {},
    }
    return BOOTSTRAP["Settings"](**{**values, **overrides})


def deploy_policy(cloud: str) -> dict:
    """The deploy role's policy document for a stack on `cloud`, as bootstrap attaches it."""
    if cloud == "aws":
        return json.loads(BOOTSTRAP["aws_deploy_policy"](settings(), "us-west-2"))
    return json.loads(BOOTSTRAP["alicloud_deploy_policy"](settings()))


def listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allowed(policy: dict, action: str) -> list[dict]:
    """The Allow statements whose Action matches `action` (wildcards as IAM and RAM read them: case-insensitive)."""
    return [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Allow" and any(fnmatchcase(action.lower(), p.lower()) for p in listed(s["Action"]))
    ]


def problems(types: set[str], policies: dict[str, dict]) -> list[str]:
    """What stops the deploy roles from managing `types`: a type with no row, or an action no statement grants."""
    found = []
    for type_ in sorted(types):
        cloud = type_.split(":")[0]
        if cloud in NO_CLOUD_ACTION:
            continue
        row = PERMISSIONS.get(cloud, {}).get("resources", {}).get(type_)
        if row is None:
            found.append(f"{type_}: no row in bootstrap/permissions.json (add its actions and their source)")
            continue
        ungranted = [a for a in row["actions"] if not allowed(policies[cloud], a)]
        if ungranted:
            found.append(f"{type_}: the {cloud} deploy role does not grant {', '.join(ungranted)}")
    return found


def condition_values(policy: dict, action: str, key: str) -> set[str]:
    return {v for s in allowed(policy, action) for c in s.get("Condition", {}).values() for v in listed(c.get(key, []))}


@pytest.fixture(scope="module")
def policies() -> dict[str, dict]:
    return {cloud: deploy_policy(cloud) for cloud in ("aws", "alicloud")}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_the_deploy_role_of_each_shipped_stack_manages_every_type_it_plans(shipped, policies, stack):
    types = {r["type"] for r in shipped(stack).resources}
    assert {t.split(":")[0] for t in types} - NO_CLOUD_ACTION == {STACKS[stack]}
    assert problems(types, policies) == []


@pytest.mark.parametrize("stack", ["dev-aws", "prod-aws"])
def test_the_aws_deploy_role_attaches_every_managed_policy_and_passes_every_role_the_plan_needs(
    shipped, policies, stack
):
    planned = shipped(stack).resources
    attached = {
        r["inputs"]["policyArn"] for r in planned if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    assert attached
    attachable = condition_values(policies["aws"], "iam:AttachRolePolicy", "iam:PolicyARN")
    assert sorted(attached - attachable) == [], "attached by the plan, outside the deploy role's allow-list"
    assert attachable == set(PERMISSIONS["aws"]["managedPolicies"])  # and nothing it does not attach
    types = {r["type"] for r in planned}
    rows = [PERMISSIONS["aws"]["resources"].get(t, {}) for t in types if t.startswith("aws:")]
    passed_to = condition_values(policies["aws"], "iam:PassRole", "iam:PassedToService")
    assert {s for row in rows for s in row.get("passRoleTo", ())} <= passed_to
    linked = condition_values(policies["aws"], "iam:CreateServiceLinkedRole", "iam:AWSServiceName")
    assert {s for row in rows for s in row.get("serviceLinkedRoles", ())} <= linked


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_alicloud_deploy_role_writes_every_ram_role_and_policy_the_plan_names(shipped, policies, stack):
    planned = shipped(stack).resources
    names = [
        r["inputs"].get("roleName") or r["inputs"]["policyName"]
        for r in planned
        if r["type"] in ("alicloud:ram/role:Role", "alicloud:ram/policy:Policy")
    ]
    assert len(names) >= 2
    pattern = PERMISSIONS["alicloud"]["platformNames"]["pattern"]
    assert [n for n in names if not fnmatchcase(n, pattern)] == []
    (writes,) = allowed(policies["alicloud"], "ram:CreateRole")
    assert writes["Resource"] == [f"acs:ram:*:*:role/{pattern}", f"acs:ram:*:*:policy/{pattern}"]
    attachments = [
        r["inputs"] for r in planned if r["type"] == "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment"
    ]
    assert attachments and all(a["policyType"] == "Custom" for a in attachments)  # never a system policy


def provider_resource_types(folders: tuple[str, ...] = ("mlplatform", "stacks")) -> dict[str, str]:
    """Every provider resource class (pulumi_aws, pulumi_alicloud, pulumi_random) a module of ours names, as its
    type token -> where: what any config can make the program plan, not only what the shipped stacks do."""
    found: dict[str, str] = {}
    for path in sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text())
        aliases = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name in PROVIDERS
        }
        for node in ast.walk(tree):
            chain = []
            while isinstance(node, ast.Attribute):
                chain.insert(0, node.attr)
                node = node.value
            if not (isinstance(node, ast.Name) and node.id in aliases and chain):
                continue
            value = importlib.import_module(aliases[node.id])
            for name in chain:
                value = getattr(value, name, None)
                if isinstance(value, type) and issubclass(value, pulumi.CustomResource):
                    found.setdefault(value.pulumi_type, str(path.relative_to(ROOT)))
    return found


def test_every_resource_type_any_module_can_create_has_a_row_the_deploy_role_grants(policies):
    types = provider_resource_types()
    # The scan sees what only some configs plan: ACK@Edge, ACK node pools and tenancy grants, EKS access entries.
    assert {
        "alicloud:cs/edgeKubernetes:EdgeKubernetes",
        "alicloud:cs/kubernetesPermission:KubernetesPermission",
        "aws:eks/accessEntry:AccessEntry",
        "random:index/randomPassword:RandomPassword",
    } <= set(types)
    assert problems(set(types), policies) == [], types


def test_a_type_without_a_row_fails_naming_it(policies):
    assert problems({"aws:lambda/function:Function", "kubernetes:core/v1:Namespace"}, policies) == [
        "aws:lambda/function:Function: no row in bootstrap/permissions.json (add its actions and their source)"
    ]


def test_a_row_left_out_of_the_derived_role_fails_naming_its_type_and_actions(shipped, monkeypatch):
    monkeypatch.delitem(PERMISSIONS["aws"]["resources"], "aws:sqs/queue:Queue")
    monkeypatch.delitem(PERMISSIONS["aws"]["resources"], "aws:sqs/queuePolicy:QueuePolicy")
    without_sqs = deploy_policy("aws")
    monkeypatch.undo()
    types = {r["type"] for r in shipped("dev-aws").resources}
    queue, queue_policy = problems(types, {"aws": without_sqs})
    assert queue.startswith("aws:sqs/queue:Queue: the aws deploy role does not grant sqs:CreateQueue")
    assert queue_policy == "aws:sqs/queuePolicy:QueuePolicy: the aws deploy role does not grant " + (
        "sqs:SetQueueAttributes, sqs:GetQueueAttributes"
    )


def test_every_row_is_sourced_and_names_cloud_actions():
    action = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
    for cloud in ("aws", "alicloud"):
        for type_, row in PERMISSIONS[cloud]["resources"].items():
            assert type_.startswith(f"{cloud}:") and row["source"], type_
            assert row["actions"] and all(action.match(a) for a in row["actions"]), type_
            assert not {a for a in row["actions"] if a.split(":")[1] == "*"}, f"{type_}: a whole service"
    for arn, policy in PERMISSIONS["aws"]["managedPolicies"].items():
        assert arn.startswith("arn:aws:iam::aws:policy/") and policy["attachedBy"] and policy["source"]


def test_the_derived_documents_fit_the_clouds_quotas(policies):
    assert len(re.sub(r"\s", "", json.dumps(policies["aws"]))) <= AWS_INLINE_POLICY_LIMIT
    assert len(BOOTSTRAP["alicloud_deploy_policy"](settings())) <= RAM_POLICY_LIMIT
    denied = [s for s in policies["aws"]["Statement"] if s["Effect"] == "Deny"]
    assert denied and denied[0]["Resource"][0] == "arn:aws:iam::*:role/ml-platform-ci-*"


def test_extra_actions_reach_the_regional_statement_only():
    policy = json.loads(
        BOOTSTRAP["aws_deploy_policy"](settings(aws={"extraActions": ["kms:DescribeKey"]}), "eu-west-1")
    )
    (statement,) = allowed(policy, "kms:DescribeKey")
    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
