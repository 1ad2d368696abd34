"""Policies on how workloads reach cloud storage: no long-lived keys, and serving roles that cannot write."""

from __future__ import annotations

import json

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlpolicies.props import UNKNOWN, as_dict, as_list, label, plain

ACCESS_KEYS = ("alicloud:ram/accessKey:AccessKey", "aws:iam/accessKey:AccessKey")
KUBE_SECRET = "kubernetes:core/v1:Secret"
# Secret keys that carry cloud credentials, as the SDKs, the OSS CSI plugin and rclone read them.
CLOUD_KEY_NAMES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALICLOUD_ACCESS_KEY",
    "ALICLOUD_SECRET_KEY",
    "akId",
    "akSecret",
)
PURPOSE_TAG = "mlplatform.io/purpose"
WRITE_ACTIONS = ("oss:PutObject", "oss:DeleteObject", "s3:PutObject", "s3:DeleteObject", "oss:*", "s3:*", "*")


def _credential_keys(props: dict) -> list[str]:
    keys = [*as_dict(props.get("data")), *as_dict(props.get("stringData"))]
    return [key for key in keys if key in CLOUD_KEY_NAMES or key.endswith("_SECRET_ACCESS_KEY")]


def _validate_no_access_keys(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = label(args.resource_type, args.name)
    if args.resource_type in ACCESS_KEYS:
        report(f"{who} is a long-lived cloud access key; give the workload an RRSA role (ACK) or Pod Identity (EKS).")
    elif args.resource_type == KUBE_SECRET:
        keys = _credential_keys(plain(args.props))
        if keys:
            report(f"{who} stores cloud keys ({', '.join(sorted(keys))}); reach the cloud through workload identity.")


no_access_keys = ResourceValidationPolicy(
    name="no-access-keys",
    description="No cloud access keys: no RAM/IAM access key resources and no Secret holding cloud keys.",
    validate=_validate_no_access_keys,
)


def _writes(document) -> bool:
    """Does this RAM/IAM policy document allow writing or deleting objects?"""
    if document is UNKNOWN or not isinstance(document, str):
        return False
    try:
        statements = as_list(json.loads(document).get("Statement"))
    except (ValueError, AttributeError):
        return False
    for statement in statements:
        if isinstance(statement, dict) and statement.get("Effect") == "Allow":
            actions = statement.get("Action")
            if any(action in WRITE_ACTIONS for action in (actions if isinstance(actions, list) else [actions])):
                return True
    return False


def _validate_serving_roles(args: StackValidationArgs, report: ReportViolation) -> None:
    roles = {}  # role name -> (resource, purpose)
    for resource in args.resources:
        props = plain(resource.props)
        if resource.resource_type in ("alicloud:ram/role:Role", "aws:iam/role:Role"):
            name = props.get("roleName") or props.get("name")
            roles[name] = (resource, as_dict(props.get("tags")).get(PURPOSE_TAG))
    policies = {
        plain(r.props).get("policyName"): plain(r.props).get("policyDocument")
        for r in args.resources
        if r.resource_type == "alicloud:ram/policy:Policy"
    }
    for resource in args.resources:
        props = plain(resource.props)
        if resource.resource_type == "alicloud:ram/rolePolicyAttachment:RolePolicyAttachment":
            role, document = props.get("roleName"), policies.get(props.get("policyName"))
        elif resource.resource_type == "aws:iam/rolePolicy:RolePolicy":
            role, document = props.get("role"), props.get("policy")
        else:
            continue
        owner, purpose = roles.get(role, (None, None))
        if purpose == "serving" and _writes(document):
            report(
                f"{label(owner.resource_type, owner.name)} serves models but its policy lets it write or delete "
                "bucket objects; serving roles read their model versions only.",
                owner.urn,
            )


serving_roles_read_only = StackValidationPolicy(
    name="serving-roles-read-only",
    description="Roles of model servings may read their model versions but never write or delete bucket objects.",
    validate=_validate_serving_roles,
)
