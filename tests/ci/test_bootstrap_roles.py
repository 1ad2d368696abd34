"""The CI bootstrap stack (bootstrap/) under Pulumi's mock runtime: who may assume which role, and with what."""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pytest
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks, settings
from pulumi.runtime.config import CONFIG
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "bootstrap" / "__main__.py"
PROJECT = "ml-platform-ci"
AWS_ACCOUNT, ALICLOUD_ACCOUNT = "123456789012", "1234567890123456"
AWS_PROVIDER = f"arn:aws:iam::{AWS_ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ISSUER = "token.actions.githubusercontent.com"

FOUR_STACKS = {
    "repository": "acme/ml-platform",
    "stacks": {
        "dev": {"cloud": "alicloud"},
        "prod": {"cloud": "alicloud"},
        "dev-aws": {"cloud": "aws", "region": "us-west-2"},
        "prod-aws": {"cloud": "aws", "region": "eu-west-1"},
    },
    "alicloud": {"oidcFingerprints": ["0123456789abcdef0123456789abcdef01234567"]},
}


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict


class Recorder(pulumi.runtime.Mocks):
    """Collects every registered resource and answers with the ARNs the clouds would compute."""

    def __init__(self):
        self.resources: list[Resource] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        state = dict(inputs)
        if args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            state["arn"] = AWS_PROVIDER
        elif args.typ == "alicloud:ims/oidcProvider:OidcProvider":
            state["arn"] = f"acs:ram::{ALICLOUD_ACCOUNT}:oidc-provider/{inputs['oidcProviderName']}"
        elif args.typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{AWS_ACCOUNT}:role/{inputs['name']}"
        elif args.typ == "alicloud:ram/role:Role":
            state["arn"] = f"acs:ram::{ALICLOUD_ACCOUNT}:role/{inputs['roleName'].lower()}"
        self.resources.append(Resource(args.typ, args.name, inputs))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class Monitor(mocks.MockMonitor):
    """Also keeps the stack's exports."""

    def __init__(self, recorder: Recorder):
        super().__init__(recorder)
        self.exports: dict = {}

    def RegisterResourceOutputs(self, request):
        if request.urn.endswith(f"::{PROJECT}-ci"):
            self.exports = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


@dataclass
class Plan:
    resources: list[Resource]
    exports: dict

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> Resource:
        (match,) = [r for r in self.of_type(type_) if r.name == name]
        return match


def set_config(values: dict, extra: dict | None = None) -> None:
    flat = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    pulumi.runtime.set_all_config({**flat, **(extra or {})}, [])


def plan(values: dict, extra: dict | None = None) -> Plan:
    recorder = Recorder()
    monitor = Monitor(recorder)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack="ci", preview=False, monitor=monitor)
    set_config(values, extra)
    settings.set_root_resource(None)
    _sync_await(run_in_stack(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
    return Plan(recorder.resources, monitor.exports)


@pytest.fixture(autouse=True, scope="module")
def _leave_the_runtime_config_as_found():
    """The Pulumi runtime's config is process-wide: other tests' programs must not see this stack's."""
    saved = dict(CONFIG.get())
    yield
    pulumi.runtime.set_all_config(saved, [])


@pytest.fixture(scope="module")
def four() -> Plan:
    return plan(FOUR_STACKS)


def trust(role: Resource) -> dict:
    document = role.inputs.get("assumeRolePolicy") or role.inputs["assumeRolePolicyDocument"]
    (statement,) = json.loads(document)["Statement"]
    assert statement["Effect"] == "Allow"
    return statement


def test_one_oidc_provider_per_cloud_for_github_with_the_sts_audience(four):
    (aws,) = four.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert aws.inputs["url"] == f"https://{ISSUER}"
    assert aws.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    (ali,) = four.of_type("alicloud:ims/oidcProvider:OidcProvider")
    assert ali.inputs["issuerUrl"] == f"https://{ISSUER}"
    assert ali.inputs["clientIds"] == ["sts.aliyuncs.com"]
    assert ali.inputs["fingerprints"] == FOUR_STACKS["alicloud"]["oidcFingerprints"]


@pytest.mark.parametrize(
    ("role_type", "subjects", "action", "principal", "conditions"),
    [
        pytest.param(
            "aws:iam/role:Role",
            {
                "aws-preview": "repo:acme/ml-platform:pull_request",
                "aws-deploy-dev-aws": "repo:acme/ml-platform:environment:dev-aws",
                "aws-deploy-prod-aws": "repo:acme/ml-platform:environment:prod-aws",
            },
            "sts:AssumeRoleWithWebIdentity",
            {"Federated": AWS_PROVIDER},
            lambda subject: {f"{ISSUER}:aud": "sts.amazonaws.com", f"{ISSUER}:sub": subject},
            id="aws",
        ),
        pytest.param(
            "alicloud:ram/role:Role",
            {
                "alicloud-preview": "repo:acme/ml-platform:pull_request",
                "alicloud-deploy-dev": "repo:acme/ml-platform:environment:dev",
                "alicloud-deploy-prod": "repo:acme/ml-platform:environment:prod",
            },
            "sts:AssumeRole",
            {"Federated": [f"acs:ram::{ALICLOUD_ACCOUNT}:oidc-provider/ml-platform-ci-github"]},
            lambda subject: {"oidc:iss": f"https://{ISSUER}", "oidc:aud": "sts.aliyuncs.com", "oidc:sub": subject},
            id="alicloud",
        ),
    ],
)
def test_roles_trust_github_oidc_for_exactly_their_subject(four, role_type, subjects, action, principal, conditions):
    roles = {r.name: r for r in four.of_type(role_type)}
    assert set(roles) == set(subjects)
    for name, subject in subjects.items():
        statement = trust(roles[name])
        assert statement["Action"] == action
        assert statement["Principal"] == principal
        assert statement["Condition"] == {"StringEquals": conditions(subject)}
    assert all(r.inputs["maxSessionDuration"] == 3600 for r in roles.values())


def test_no_role_trusts_a_wildcard_or_another_repository(four):
    roles = four.of_type("aws:iam/role:Role") + four.of_type("alicloud:ram/role:Role")
    subjects = []
    for role in roles:
        condition = trust(role)["Condition"]
        assert set(condition) == {"StringEquals"}  # no StringLike, no ForAllValues
        (subject,) = [v for k, v in condition["StringEquals"].items() if k.endswith(":sub")]
        assert "*" not in subject and subject.startswith("repo:acme/ml-platform:")
        subjects.append(subject)
    # Each deploy role has its own environment; only the two preview roles share the pull_request subject.
    assert sorted(subjects).count("repo:acme/ml-platform:pull_request") == 2
    assert len(set(subjects)) == len(subjects) - 1


def test_preview_roles_are_read_only(four):
    aws_attached = [r.inputs for r in four.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    assert aws_attached == [{"role": "ml-platform-ci-preview", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
    assert all(p.inputs["role"] != "ml-platform-ci-preview" for p in four.of_type("aws:iam/rolePolicy:RolePolicy"))
    ali_attached = [
        r.inputs
        for r in four.of_type("alicloud:ram/rolePolicyAttachment:RolePolicyAttachment")
        if r.inputs["roleName"] == "ml-platform-ci-preview"
    ]
    assert ali_attached == [
        {"roleName": "ml-platform-ci-preview", "policyName": "ReadOnlyAccess", "policyType": "System"}
    ]


def test_aws_deploy_roles_are_scoped_to_their_stack_region_and_cannot_touch_ci(four):
    policies = {p.inputs["role"]: json.loads(p.inputs["policy"]) for p in four.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert set(policies) == {"ml-platform-ci-deploy-dev-aws", "ml-platform-ci-deploy-prod-aws"}
    for role, region in (
        ("ml-platform-ci-deploy-dev-aws", "us-west-2"),
        ("ml-platform-ci-deploy-prod-aws", "eu-west-1"),
    ):
        statements = {s["Sid"]: s for s in policies[role]["Statement"]}
        regional = statements["PlatformResourcesInTheStackRegion"]
        assert regional["Condition"] == {"StringEquals": {"aws:RequestedRegion": region}}
        assert "iam:*" not in regional["Action"] and "*" not in regional["Action"]
        attach = statements["AttachOnlyTheManagedPoliciesThePlatformUses"]["Condition"]["ArnEquals"]["iam:PolicyARN"]
        assert all(arn.startswith("arn:aws:iam::aws:policy/") for arn in attach)  # AWS-managed, named one by one
        assert not {"AdministratorAccess", "IAMFullAccess", "PowerUserAccess"} & {a.rsplit("/")[-1] for a in attach}
        assert statements["PlatformRoles"]["Resource"] == "arn:aws:iam::*:role/*"  # no user, no key
        deny = statements["NeverTheCiTrust"]
        assert deny["Effect"] == "Deny" and deny["Action"] == "iam:*"
        assert "arn:aws:iam::*:role/ml-platform-ci-*" in deny["Resource"]
        for statement in policies[role]["Statement"]:
            if statement["Effect"] == "Allow":
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert "*" not in actions and "iam:*" not in actions and "sts:*" not in actions


def test_alicloud_deploy_roles_get_one_custom_policy_writing_only_the_platforms_ram_names(four):
    attached: dict[str, set[str]] = {}
    for a in four.of_type("alicloud:ram/rolePolicyAttachment:RolePolicyAttachment"):
        attached.setdefault(a.inputs["roleName"], set()).add(f"{a.inputs['policyType']}:{a.inputs['policyName']}")
    for stack in ("dev", "prod"):
        assert attached[f"ml-platform-ci-deploy-{stack}"] == {"Custom:ml-platform-ci-deploy"}  # no system policy
    (policy,) = four.of_type("alicloud:ram/policy:Policy")
    statements = json.loads(policy.inputs["policyDocument"])["Statement"]
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert not {"*", "ram:*", "sts:*"} & set(actions) or statement["Effect"] == "Deny"
        ram_writes = [a for a in actions if a.startswith("ram:") and not a.startswith(("ram:Get", "ram:List"))]
        if statement["Effect"] == "Allow" and ram_writes and ram_writes != ["ram:PassRole"]:
            assert statement["Resource"] == ["acs:ram:*:*:role/mlp-*", "acs:ram:*:*:policy/mlp-*"]
    (passing,) = [s for s in statements if s["Action"] == "ram:PassRole"]
    assert passing["Resource"] == ["acs:ram:*:*:role/aliyun*"]  # ACK's service roles only
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert "acs:ram:*:*:role/ml-platform-ci-*" in deny["Resource"]


def test_no_long_lived_key_or_user_is_created(four):
    types = {r.type for r in four.resources}
    assert not {t for t in types if "accessKey" in t or t.endswith("/user:User") or "loginProfile" in t}
    assert types == {
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/rolePolicy:RolePolicy",
        "alicloud:ims/oidcProvider:OidcProvider",
        "alicloud:ram/role:Role",
        "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment",
        "alicloud:ram/policy:Policy",
    }


def test_exports_name_the_github_variables_of_the_repository_and_of_each_environment(four):
    assert set(four.exports["repositoryVariables"]) == {
        "AWS_PREVIEW_ROLE_ARN",
        "ALIBABA_CLOUD_PREVIEW_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    }
    environments = four.exports["environmentVariables"]
    assert environments["dev-aws"] == {"AWS_ROLE_ARN": f"arn:aws:iam::{AWS_ACCOUNT}:role/ml-platform-ci-deploy-dev-aws"}
    assert environments["prod"] == {
        "ALIBABA_CLOUD_ROLE_ARN": f"acs:ram::{ALICLOUD_ACCOUNT}:role/ml-platform-ci-deploy-prod"
    }
    assert set(environments) == {"dev", "prod", "dev-aws", "prod-aws"}


def test_only_the_clouds_of_the_configured_stacks_are_touched():
    only_ack = plan({**FOUR_STACKS, "stacks": {"dev": "alicloud", "prod": "alicloud"}})
    assert not [r for r in only_ack.resources if r.type.startswith("aws:")]
    assert set(only_ack.exports["environmentVariables"]) == {"dev", "prod"}
    only_eks = plan({"repository": "acme/ml-platform", "stacks": {"dev-aws": "aws"}}, {"aws:region": "us-east-1"})
    assert not [r for r in only_eks.resources if r.type.startswith("alicloud:")]
    (policy,) = only_eks.of_type("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Condition"]["StringEquals"] == {
        "aws:RequestedRegion": "us-east-1"
    }


def test_existing_providers_and_immutable_subjects():
    existing = plan(
        {
            **FOUR_STACKS,
            "ownerId": "111",
            "repositoryId": "222",
            "aws": {"oidcProviderArn": "arn:aws:iam::999999999999:oidc-provider/" + ISSUER},
            "alicloud": {"oidcProviderArn": "acs:ram::42:oidc-provider/github"},
        }
    )
    assert not existing.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert not existing.of_type("alicloud:ims/oidcProvider:OidcProvider")
    statement = trust(existing.named("aws:iam/role:Role", "aws-deploy-dev-aws"))
    assert statement["Principal"] == {"Federated": "arn:aws:iam::999999999999:oidc-provider/" + ISSUER}
    assert (
        statement["Condition"]["StringEquals"][f"{ISSUER}:sub"] == "repo:acme@111/ml-platform@222:environment:dev-aws"
    )
    statement = trust(existing.named("alicloud:ram/role:Role", "alicloud-preview"))
    assert statement["Principal"] == {"Federated": ["acs:ram::42:oidc-provider/github"]}
    assert statement["Condition"]["StringEquals"]["oidc:sub"] == "repo:acme@111/ml-platform@222:pull_request"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repository": "not a repository"}, "expected OWNER/REPO"),
        ({"stacks": {"dev": "gcp"}}, "stacks.dev.cloud"),
        ({"stacks": {}}, "name at least one stack"),
        ({"alicloud": {}}, "alicloud.oidcFingerprints"),
        ({"ownerId": "1"}, "set both"),
    ],
)
def test_config_mistakes_are_refused(change, message):
    program = runpy.run_path(str(PROGRAM), run_name="bootstrap_program")
    pulumi.runtime.set_mocks(Recorder(), project=PROJECT, stack="ci", preview=False)
    set_config({**FOUR_STACKS, **change})
    with pytest.raises(program["BootstrapConfigError"], match=message):
        program["load_settings"](pulumi.Config())


def test_the_example_stack_config_covers_every_stack_of_the_repository():
    example = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.example.yaml").read_text())["config"]
    configured = {name: spec["cloud"] for name, spec in example[f"{PROJECT}:stacks"].items()}
    for path in ROOT.glob("Pulumi.*.yaml"):
        stack = path.name[len("Pulumi.") : -len(".yaml")]
        cloud = yaml.safe_load(path.read_text())["config"]["ml-platform:cloud"]
        assert configured.get(stack) == cloud, f"{stack} ({cloud}) is missing from bootstrap/Pulumi.example.yaml"
    assert {"dev-aws", "prod-aws"} <= set(configured)


def test_bootstrap_requirements_match_the_program_pins():
    pins = {}
    for path in (ROOT / "requirements.txt", ROOT / "bootstrap" / "requirements.txt"):
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("==")
                pins.setdefault(name.strip(), set()).add(version.strip())
    for name in ("pulumi", "pulumi-aws", "pulumi-alicloud"):
        assert len(pins[name]) == 1, f"{name}: {pins[name]}"
