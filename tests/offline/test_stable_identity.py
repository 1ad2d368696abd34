"""Stable identity (issue 22): a resource's name comes from what it is, never from where config lists it.

Reordering config changes nothing a `pulumi up` would act on, and removing one team member deletes that
member's grant and touches nothing else. Measured on the offline plans: URN -> record (inputs, parent,
provider, dependencies, protection), in whatever order the records were written.
"""

import shutil
from pathlib import Path

import pytest
import yaml

from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod", "dev-aws", "prod-aws")
NAMESPACE = "ml-platform:"
# Lists whose order carries meaning, kept as written; every other list and every mapping is reversed.
ORDERED = {
    "zones",  # one subnet per zone, in the order written (and `subnetIds` beside them)
    "subnetIds",
    "instanceTypes",  # a pool's instance types by preference
    "systemInstanceTypes",
    "edgeWorkerInstanceTypes",
    "command",  # a container's command line
    "args",
    "predictors",  # KServe's `spec.predictor` is the first live predictor (Serving.stable), the rest canaries
}
# Grant/access-entry resource types, by cloud.
GRANTS = {"alicloud": "alicloud:cs/kubernetesPermission:KubernetesPermission", "aws": "aws:eks/accessEntry:AccessEntry"}
MEMBERS = {
    "alicloud": ["ram-role:300800000000001", "ram-user:200300000000002", "ram-role:300800000000003"],
    "aws": [
        "arn:aws:iam::123456789012:role/vision-admins",
        "arn:aws:iam::123456789012:user/ana",
        "arn:aws:iam::123456789012:role/ml/vision-readers",
    ],
}


def reverse_unordered(value, key: str | None = None):
    """`value` with every mapping's keys, and every list not in ORDERED, in reverse order (recursively)."""
    if isinstance(value, dict):
        return {name: reverse_unordered(item, name) for name, item in reversed(value.items())}
    if isinstance(value, list):
        items = [reverse_unordered(item, key) for item in value]
        return items if key in ORDERED else items[::-1]
    return value


def _read(project: Path, stack: str) -> dict:
    return yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())


def _write(project: Path, stack: str, document: dict) -> None:
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


def reverse_stack_file(project: Path, stack: str) -> None:
    """Reverse the `ml-platform:` config of a stack file: its keys, and within each what ORDERED allows."""
    document = _read(project, stack)
    config = document["config"]
    others = {key: value for key, value in config.items() if not key.startswith(NAMESPACE)}
    ours = {key[len(NAMESPACE) :]: value for key, value in config.items() if key.startswith(NAMESPACE)}
    document["config"] = {**others, **{NAMESPACE + key: value for key, value in reverse_unordered(ours).items()}}
    _write(project, stack, document)


def set_members(project: Path, stack: str, team: str, members: list[str]) -> None:
    document = _read(project, stack)
    document["config"][f"{NAMESPACE}teams"][team]["groups"] = members
    _write(project, stack, document)


def serve_in_two_teams(project: Path, stack: str) -> None:
    """A vision-team serving of `color:v1` beside the default team's `color`: two namespaces serve a promoted
    version, which the prod stack copies once."""
    document = _read(project, stack)
    config = document["config"]
    config[f"{NAMESPACE}teams"].setdefault("vision", {})
    predictor = {"name": "v1", "model": "color:v1", "replicas": 2}
    config[f"{NAMESPACE}servings"]["color-vision"] = {
        "team": "vision",
        "protocol": "tensorflow",
        "predictors": [predictor],
    }
    _write(project, stack, document)


def records(project: Path, stack: str) -> dict[str, dict]:
    """URN -> what the engine compares and acts on: everything but the mock's echoed outputs, and the aliases,
    which the engine looks up only when the URN itself is not in the state (pulumi/pulumi
    pkg/resource/deploy/step_generator.go `generateSteps`: "Check the URN first, then aliases")."""
    plan = run_preview(stack, project)
    return {r["urn"]: {k: v for k, v in r.items() if k not in ("urn", "outputs", "aliases")} for r in plan.resources}


def member_grants(plan: dict[str, dict], cloud: str) -> dict[str, dict]:
    """The teams' grants (EKS: not the deployers' access entries, which the cluster component makes)."""
    team = "::mlplatform:tenancy:Team$"
    return {urn: r for urn, r in plan.items() if r["type"] == GRANTS[cloud] and team in urn}


def differences(before: dict[str, dict], after: dict[str, dict]) -> dict[str, list[str]]:
    """What `pulumi up` from `before` to `after` would do: created, deleted and changed URNs."""
    return {
        "created": sorted(after.keys() - before.keys()),
        "deleted": sorted(before.keys() - after.keys()),
        "changed": sorted(urn for urn in before.keys() & after.keys() if before[urn] != after[urn]),
    }


@pytest.fixture
def every_stack(project: Path) -> Path:
    """The project copy with the EKS stacks too (the `project` fixture copies dev and prod)."""
    for stack in ("dev-aws", "prod-aws"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", project / f"Pulumi.{stack}.yaml")
    return project


def test_the_reversal_keeps_ordered_lists_and_reverses_the_rest():
    config = {"servings": {"a": {"predictors": [1, 2], "dependsOn": ["x", "y"]}, "b": {}}, "zones": [1, 2]}
    assert reverse_unordered(config) == {
        "zones": [1, 2],
        "servings": {"b": {}, "a": {"dependsOn": ["y", "x"], "predictors": [1, 2]}},
    }
    assert list(reverse_unordered(config)["servings"]["a"]) == ["dependsOn", "predictors"]


@pytest.mark.parametrize("stack", STACKS)
def test_reversing_every_unordered_map_and_list_of_a_stack_changes_nothing(every_stack, stack):
    # The members' list too: the shipped stacks have none, so the copy gets some in both orders.
    cloud = "aws" if stack.endswith("-aws") else "alicloud"
    for name in STACKS:
        set_members(every_stack, name, "default", MEMBERS["aws" if name.endswith("-aws") else "alicloud"])
    if stack.startswith("prod"):  # and a promoted version copied once, for servings in two namespaces
        serve_in_two_teams(every_stack, stack)
    before = records(every_stack, stack)
    for name in STACKS:  # prod's plan reads dev's outputs: both reversed
        reverse_stack_file(every_stack, name)
    assert _read(every_stack, stack)["config"][f"{NAMESPACE}teams"]["default"]["groups"] == MEMBERS[cloud][::-1]
    after = records(every_stack, stack)
    assert differences(before, after) == {"created": [], "deleted": [], "changed": []}
    assert len(member_grants(after, cloud)) == len(MEMBERS[cloud])
    if stack.startswith("prod"):
        [copy] = [r for urn, r in after.items() if urn.endswith("::promote-color-v1-job")]
        assert copy["inputs"]["metadata"]["namespace"] == "models"  # `models` before `vision-models`


def fill_unordered_lists(project: Path, stack: str) -> None:
    """Two entries in the unordered lists and maps the shipped stacks leave empty or single: team network
    allowances, container env, the EKS API's allowed CIDRs and deploy runners."""
    document = _read(project, stack)
    config = document["config"]
    config[f"{NAMESPACE}teams"]["default"]["network"] = {
        "allowFromNamespaces": ["kube-system", "monitoring"],
        "egress": [{"cidr": "10.50.0.0/16", "ports": [5432, 6379]}, {"cidr": "10.60.0.0/16"}],
    }
    for job in config[f"{NAMESPACE}trainingJobs"].values():
        job["env"] = {"LOG_LEVEL": "info", "EPOCHS": "3"}
    for service in config.get(f"{NAMESPACE}webServices", {}).values():
        service["env"] = {"LOG_LEVEL": "info", "THEME": "dark"}
    if stack.endswith("-aws"):
        cluster = config[f"{NAMESPACE}cluster"]
        cluster["publicEndpoint"] = True
        cluster["apiAccessCidrs"] = ["203.0.113.0/24", "198.51.100.0/24"]
        cluster["network"]["deployRunners"]["cidrs"] = ["10.30.240.0/24", "10.30.241.0/24"]
    _write(project, stack, document)


@pytest.mark.parametrize("stack", ["dev", "dev-aws"])
def test_reversing_the_lists_the_shipped_stacks_leave_empty_changes_nothing(every_stack, stack):
    fill_unordered_lists(every_stack, stack)
    before = records(every_stack, stack)
    reverse_stack_file(every_stack, stack)
    assert differences(before, records(every_stack, stack)) == {"created": [], "deleted": [], "changed": []}


@pytest.mark.parametrize("stack", ["dev", "dev-aws"])
def test_removing_the_first_team_member_deletes_only_its_grant(every_stack, stack):
    cloud = "aws" if stack.endswith("-aws") else "alicloud"
    first, second = MEMBERS[cloud][:2]
    set_members(every_stack, stack, "default", [first])
    alone = records(every_stack, stack)
    set_members(every_stack, stack, "default", [first, second])
    both = records(every_stack, stack)
    added = differences(alone, both)
    assert added["deleted"] == [] and added["changed"] == []
    [created] = added["created"]
    assert created in member_grants(both, cloud)
    set_members(every_stack, stack, "default", [second])
    removed = differences(both, records(every_stack, stack))
    assert removed["created"] == [] and removed["changed"] == []  # the second member's grant keeps URN and inputs
    [gone] = removed["deleted"]
    assert gone in member_grants(alone, cloud)  # the first member's own grant, nobody else's
