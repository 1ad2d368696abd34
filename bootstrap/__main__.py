"""The cloud side of CI: GitHub's OIDC tokens trusted by AWS IAM and Alibaba Cloud RAM, and the roles CI assumes.

No long-lived key is created. For each cloud that a configured stack runs on:
- an OIDC provider for https://token.actions.githubusercontent.com (or an existing one, by ARN), with the
  cloud's STS audience (sts.amazonaws.com, sts.aliyuncs.com);
- one read-only preview role, trusted for `repo:OWNER/REPO:pull_request` (the pull-request workflow's
  `pulumi preview`);
- per stack, one deploy role, trusted for `repo:OWNER/REPO:environment:<stack>` only (the deploy job runs
  in the GitHub environment named after its stack), with the actions of every resource type the platform
  plans (permissions.json: one sourced row per type), and denied any change to these CI roles and providers.

Config (namespace `ml-platform-ci`; see docs/ci.md and Pulumi.example.yaml):
  repository          OWNER/REPO of the GitHub repository (required)
  ownerId, repositoryId  numeric ids, for repositories that emit immutable `sub` claims (both or neither)
  stacks              {stack: {cloud: alicloud|aws, region: ...}} (required); region restricts AWS deploys
  namePrefix          prefix of every role and policy name (default ml-platform-ci)
  maxSessionDuration  seconds (default 3600)
  aws                 {oidcProviderArn, previewPolicyArns, extraActions, extraAttachablePolicyArns}, all optional
  alicloud            {oidcProviderArn, oidcFingerprints, previewPolicies, extraActions}; oidcFingerprints is
                      required unless oidcProviderArn names an existing provider
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws

ISSUER = "token.actions.githubusercontent.com"
ISSUER_URL = f"https://{ISSUER}"
AWS_AUDIENCE = "sts.amazonaws.com"
ALICLOUD_AUDIENCE = "sts.aliyuncs.com"
CLOUDS = ("alicloud", "aws")

AWS_READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
ALICLOUD_READ_ONLY = "ReadOnlyAccess"

# What `pulumi up` of the platform may do, per resource type the program can plan, with the source of each row:
# the deploy roles below are derived from it (docs/ci.md, "Permissions as data").
PERMISSIONS = json.loads(Path(__file__).with_name("permissions.json").read_text())
# Attaching and detaching managed policies: granted only for the AWS-managed policies the platform attaches.
AWS_ATTACH_ACTIONS = ("iam:AttachRolePolicy", "iam:DetachRolePolicy")

REPOSITORY = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class BootstrapConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Stack:
    name: str
    cloud: str
    region: str | None


@dataclass(frozen=True)
class Settings:
    repository: str
    subject_repository: str  # the repository as the `sub` claim names it
    stacks: tuple[Stack, ...]
    name_prefix: str
    max_session_duration: int
    aws: dict
    alicloud: dict

    def clouds(self) -> list[str]:
        return [cloud for cloud in CLOUDS if any(s.cloud == cloud for s in self.stacks)]

    def stacks_on(self, cloud: str) -> list[Stack]:
        return [s for s in self.stacks if s.cloud == cloud]


def subject_for_environment(settings: Settings, environment: str) -> str:
    return f"repo:{settings.subject_repository}:environment:{environment}"


def subject_for_pull_requests(settings: Settings) -> str:
    return f"repo:{settings.subject_repository}:pull_request"


def load_settings(config: pulumi.Config) -> Settings:
    repository = config.require("repository")
    if not REPOSITORY.match(repository):
        raise BootstrapConfigError(f"repository: expected OWNER/REPO, got {repository!r}")
    owner_id, repository_id = config.get("ownerId"), config.get("repositoryId")
    if (owner_id is None) != (repository_id is None):
        raise BootstrapConfigError("ownerId and repositoryId: set both (immutable sub claims) or neither")
    owner, repo = repository.split("/")
    subject_repository = f"{owner}@{owner_id}/{repo}@{repository_id}" if owner_id else repository

    stacks = []
    for name, spec in (config.require_object("stacks") or {}).items():
        spec = {"cloud": spec} if isinstance(spec, str) else dict(spec or {})
        if not STACK_NAME.match(name):
            raise BootstrapConfigError(f"stacks.{name}: not a plain stack name")
        if spec.get("cloud") not in CLOUDS:
            raise BootstrapConfigError(f"stacks.{name}.cloud: one of {', '.join(CLOUDS)}, got {spec.get('cloud')!r}")
        stacks.append(Stack(name=name, cloud=spec["cloud"], region=spec.get("region")))
    if not stacks:
        raise BootstrapConfigError("stacks: name at least one stack")

    alicloud_settings = config.get_object("alicloud") or {}
    if any(s.cloud == "alicloud" for s in stacks) and not (
        alicloud_settings.get("oidcProviderArn") or alicloud_settings.get("oidcFingerprints")
    ):
        raise BootstrapConfigError(
            "alicloud.oidcFingerprints: the SHA-1 fingerprint(s) of the issuer's certificate chain (docs/ci.md), "
            "or alicloud.oidcProviderArn to use an existing provider"
        )
    return Settings(
        repository=repository,
        subject_repository=subject_repository,
        stacks=tuple(stacks),
        name_prefix=config.get("namePrefix") or "ml-platform-ci",
        max_session_duration=config.get_int("maxSessionDuration") or 3600,
        aws=config.get_object("aws") or {},
        alicloud=alicloud_settings,
    )


# --- policy documents (plain functions of plain values, so the tests read them as the clouds will) ---


def aws_trust_policy(provider_arn: str, subject: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{ISSUER}:aud": AWS_AUDIENCE, f"{ISSUER}:sub": subject},
                    },
                }
            ],
        }
    )


def alicloud_trust_policy(provider_arn: str, subject: str) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": [provider_arn]},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"oidc:iss": ISSUER_URL, "oidc:aud": ALICLOUD_AUDIENCE, "oidc:sub": subject},
                    },
                }
            ],
        }
    )


def granted(cloud: str, field: str = "actions") -> list[str]:
    """The union of one field (actions, passRoleTo, ...) over every resource type of `cloud` in PERMISSIONS."""
    rows = PERMISSIONS[cloud]["resources"].values()
    return sorted({value for row in rows for value in row.get(field, ())})


def split(actions: Iterable[str], test: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    chosen = [a for a in actions if test(a)]
    return chosen, [a for a in actions if not test(a)]


def aws_deploy_policy(settings: Settings, region: str) -> str:
    """Least privilege for `pulumi up` of one EKS stack, derived from PERMISSIONS: the actions of every resource
    type the program plans, in the stack's region; IAM on roles only, attaching only the AWS-managed policies the
    platform uses, passing roles only to the services that take them; nothing of CI's own roles and provider."""
    iam, regional = split(granted("aws"), lambda action: action.startswith("iam:"))
    attach, iam = split(iam, lambda action: action in AWS_ATTACH_ACTIONS)
    iam = [a for a in iam if not a.startswith(("iam:Get", "iam:List"))]  # reads: the ReadIam statement
    regional += [a for a in settings.aws.get("extraActions") or [] if a not in regional]
    attachable = [*PERMISSIONS["aws"]["managedPolicies"], *(settings.aws.get("extraAttachablePolicyArns") or [])]
    prefix = settings.name_prefix
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PlatformResourcesInTheStackRegion",
                    "Effect": "Allow",
                    "Action": regional,
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
                },
                {"Sid": "ReadIam", "Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"},
                {
                    "Sid": "PlatformRoles",
                    "Effect": "Allow",
                    "Action": iam,
                    "Resource": "arn:aws:iam::*:role/*",
                },
                {
                    "Sid": "AttachOnlyTheManagedPoliciesThePlatformUses",
                    "Effect": "Allow",
                    "Action": attach,
                    "Resource": "arn:aws:iam::*:role/*",
                    "Condition": {"ArnEquals": {"iam:PolicyARN": attachable}},
                },
                {
                    "Sid": "PassPlatformRolesToTheirServices",
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": "arn:aws:iam::*:role/*",
                    "Condition": {"StringEquals": {"iam:PassedToService": granted("aws", "passRoleTo")}},
                },
                {
                    "Sid": "ServiceLinkedRoles",
                    "Effect": "Allow",
                    "Action": "iam:CreateServiceLinkedRole",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"iam:AWSServiceName": granted("aws", "serviceLinkedRoles")}},
                },
                {
                    "Sid": "NeverTheCiTrust",
                    "Effect": "Deny",
                    "Action": "iam:*",
                    "Resource": [f"arn:aws:iam::*:role/{prefix}-*", f"arn:aws:iam::*:oidc-provider/{ISSUER}"],
                },
            ],
        }
    )


def alicloud_deploy_policy(settings: Settings) -> str:
    """Least privilege for `pulumi up` of an ACK stack, derived from PERMISSIONS: the actions of every resource
    type the program plans; RAM writes only on the platform's own roles and policies (`mlp-*`), so it cannot
    attach a system policy or touch any other role; passing only the Alibaba Cloud service roles to ACK; nothing
    of CI's own roles, policies and OIDC providers."""
    ram, services = split(granted("alicloud"), lambda action: action.startswith("ram:"))
    services += [a for a in settings.alicloud.get("extraActions") or [] if a not in services]
    reads, writes = split(ram, lambda action: action.startswith(("ram:Get", "ram:List")))
    names = PERMISSIONS["alicloud"]["platformNames"]["pattern"]
    prefix = settings.name_prefix.lower()
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": services, "Resource": "*"},
                {"Effect": "Allow", "Action": reads, "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": writes,
                    "Resource": [f"acs:ram:*:*:role/{names}", f"acs:ram:*:*:policy/{names}"],
                },
                {"Effect": "Allow", "Action": "ram:PassRole", "Resource": granted("alicloud", "passRole")},
                {
                    "Effect": "Deny",
                    "Action": "ram:*",
                    "Resource": [
                        f"acs:ram:*:*:role/{prefix}-*",
                        f"acs:ram:*:*:policy/{prefix}-*",
                        "acs:ram:*:*:oidc-provider/*",
                    ],
                },
            ],
        },
        separators=(",", ":"),  # RAM counts every character of a policy document (6,144 at most)
    )


def ram_name(*parts: str) -> str:
    """RAM role and policy names: letters, digits, periods and hyphens, at most 64 characters."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", "-".join(parts))[:64]


def iam_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", "-".join(parts))[:64]


# --- resources ---


@dataclass(frozen=True)
class OidcRoles:
    """How one cloud spells a role that GitHub's OIDC token may assume; the roles are otherwise alike on both."""

    cloud: str  # the first part of each role's resource name
    resource: Callable[..., pulumi.CustomResource]  # aws.iam.Role or alicloud.ram.Role
    name_input: str  # the input naming the role
    trust_input: str  # the input holding its trust policy
    name: Callable[..., str]  # a name the cloud accepts, from its parts
    trust_policy: Callable[[str, str], str]  # (OIDC provider ARN, subject) -> trust policy document

    def preview_role(self, settings: Settings, provider_arn: pulumi.Input[str]) -> pulumi.CustomResource:
        """The pull-request workflow's `pulumi preview`: read-only policies are attached to it."""
        description = f"pulumi preview of {settings.repository}'s pull requests: read-only"
        return self._role(settings, provider_arn, ("preview",), description, subject_for_pull_requests(settings))

    def deploy_role(self, settings: Settings, provider_arn: pulumi.Input[str], stack: Stack) -> pulumi.CustomResource:
        """`pulumi up` of one stack, by the deploy job in the GitHub environment named after it."""
        description = f"pulumi up of {settings.repository}'s {stack.name} stack, from its GitHub environment"
        subject = subject_for_environment(settings, stack.name)
        return self._role(settings, provider_arn, ("deploy", stack.name), description, subject)

    def _role(
        self,
        settings: Settings,
        provider_arn: pulumi.Input[str],
        parts: tuple[str, ...],
        description: str,
        subject: str,
    ) -> pulumi.CustomResource:
        """`<cloud>-<parts>`, named `<namePrefix>-<parts>`, trusted for `subject` only."""
        return self.resource(
            "-".join((self.cloud, *parts)),
            description=description,
            max_session_duration=settings.max_session_duration,
            **{
                self.name_input: self.name(settings.name_prefix, *parts),
                self.trust_input: pulumi.Output.from_input(provider_arn).apply(
                    lambda arn: self.trust_policy(arn, subject)
                ),
            },
        )


AWS_ROLES = OidcRoles("aws", aws.iam.Role, "name", "assume_role_policy", iam_name, aws_trust_policy)
ALICLOUD_ROLES = OidcRoles(
    "alicloud", alicloud.ram.Role, "role_name", "assume_role_policy_document", ram_name, alicloud_trust_policy
)


def aws_roles(settings: Settings) -> dict[str, pulumi.Output[str]]:
    provider_arn = settings.aws.get("oidcProviderArn")
    if not provider_arn:
        provider = aws.iam.OpenIdConnectProvider(
            "github-actions",
            url=ISSUER_URL,
            client_id_lists=[AWS_AUDIENCE],
            tags={"purpose": f"GitHub Actions OIDC for {settings.repository}"},
        )
        provider_arn = provider.arn
    arns: dict[str, pulumi.Output[str]] = {"oidcProvider": pulumi.Output.from_input(provider_arn)}

    preview = AWS_ROLES.preview_role(settings, provider_arn)
    for policy_arn in settings.aws.get("previewPolicyArns") or [AWS_READ_ONLY]:
        aws.iam.RolePolicyAttachment(
            f"aws-preview-{policy_arn.rsplit('/', 1)[-1]}", role=preview.name, policy_arn=policy_arn
        )
    arns["preview"] = preview.arn

    default_region = pulumi.Config("aws").get("region")
    for stack in settings.stacks_on("aws"):
        region = stack.region or default_region
        if not region:
            raise BootstrapConfigError(f"stacks.{stack.name}.region: set it, or aws:region")
        role = AWS_ROLES.deploy_role(settings, provider_arn, stack)
        aws.iam.RolePolicy(
            f"aws-deploy-{stack.name}",
            role=role.name,
            name="deploy-platform",
            policy=aws_deploy_policy(settings, region),
        )
        arns[stack.name] = role.arn
    return arns


def alicloud_roles(settings: Settings) -> dict[str, pulumi.Output[str]]:
    prefix = settings.name_prefix
    provider_arn = settings.alicloud.get("oidcProviderArn")
    if not provider_arn:
        provider = alicloud.ims.OidcProvider(
            "github-actions",
            oidc_provider_name=ram_name(prefix, "github"),
            issuer_url=ISSUER_URL,
            client_ids=[ALICLOUD_AUDIENCE],
            fingerprints=list(settings.alicloud["oidcFingerprints"]),
            description=f"GitHub Actions OIDC for {settings.repository}",
        )
        provider_arn = provider.arn
    arns: dict[str, pulumi.Output[str]] = {"oidcProvider": pulumi.Output.from_input(provider_arn)}

    preview = ALICLOUD_ROLES.preview_role(settings, provider_arn)
    for policy in settings.alicloud.get("previewPolicies") or [ALICLOUD_READ_ONLY]:
        alicloud.ram.RolePolicyAttachment(
            f"alicloud-preview-{policy}", role_name=preview.role_name, policy_name=policy, policy_type="System"
        )
    arns["preview"] = preview.arn

    deploy_policy = alicloud.ram.Policy(
        "alicloud-deploy",
        policy_name=ram_name(prefix, "deploy"),
        description="pulumi up of an ACK stack: the actions of the resource types the platform plans (permissions.json)",
        policy_document=alicloud_deploy_policy(settings),
    )
    for stack in settings.stacks_on("alicloud"):
        role = ALICLOUD_ROLES.deploy_role(settings, provider_arn, stack)
        alicloud.ram.RolePolicyAttachment(
            f"alicloud-deploy-{stack.name}",
            role_name=role.role_name,
            policy_name=deploy_policy.policy_name,
            policy_type="Custom",
        )
        arns[stack.name] = role.arn
    return arns


def main() -> None:
    settings = load_settings(pulumi.Config())
    roles = {}
    if "aws" in settings.clouds():
        roles["aws"] = aws_roles(settings)
    if "alicloud" in settings.clouds():
        roles["alicloud"] = alicloud_roles(settings)

    # What to set in GitHub (docs/ci.md): repository variables, and each stack's environment variables.
    repository_variables = {}
    if "aws" in roles:
        repository_variables["AWS_PREVIEW_ROLE_ARN"] = roles["aws"]["preview"]
    if "alicloud" in roles:
        repository_variables["ALIBABA_CLOUD_PREVIEW_ROLE_ARN"] = roles["alicloud"]["preview"]
        repository_variables["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"] = roles["alicloud"]["oidcProvider"]
    environment_variables = {
        stack.name: {
            "AWS_ROLE_ARN" if stack.cloud == "aws" else "ALIBABA_CLOUD_ROLE_ARN": roles[stack.cloud][stack.name]
        }
        for stack in settings.stacks
    }
    pulumi.export("repositoryVariables", repository_variables)
    pulumi.export("environmentVariables", environment_variables)
    pulumi.export(
        "trust",
        {
            "pullRequests": subject_for_pull_requests(settings),
            "environments": {s.name: subject_for_environment(settings, s.name) for s in settings.stacks},
        },
    )


if __name__ == "__main__":
    main()
