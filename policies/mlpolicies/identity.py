"""Policies on how workloads reach cloud storage: no long-lived keys, serving roles that cannot write, and EKS
Pod Identity scoped to the pods that mount with it."""

from __future__ import annotations

import json
from collections.abc import Iterator

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlpolicies.hardening import trainjob_patched_pods
from mlpolicies.props import (
    TRAIN_JOB,
    UNKNOWN,
    Pod,
    as_dict,
    as_list,
    dig,
    label,
    plain,
    pod_specs,
    trial_of,
    verdict,
)
from mlpolicies.vendor.rules import unscoped_pod_identity_statements

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


# ------------------------------------------------------------------ EKS Pod Identity, per pod

IAM_ROLE = "aws:iam/role:Role"
POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
PERSISTENT_VOLUME = "kubernetes:core/v1:PersistentVolume"
PERSISTENT_VOLUME_CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
# Mountpoint for S3 with `authenticationSource: pod` mounts with the credentials of the pod's own service account
# (mountpoint-s3-csi-driver v2 docs/CONFIGURATION.md, "Pod-level credentials").
S3_CSI_DRIVER = "s3.csi.aws.com"


def _pod_identity_claims(resources) -> set[tuple[str, str]]:
    """(namespace, claim) of every claim bound to an S3 volume that mounts with the pod's identity."""
    volumes = {
        dig(props, "metadata", "name")
        for props in (plain(r.props) for r in resources if r.resource_type == PERSISTENT_VOLUME)
        if dig(props, "spec", "csi", "driver") == S3_CSI_DRIVER
        and dig(props, "spec", "csi", "volumeAttributes", "authenticationSource") == "pod"
    }
    return {
        (dig(props, "metadata", "namespace"), dig(props, "metadata", "name"))
        for props in (plain(r.props) for r in resources if r.resource_type == PERSISTENT_VOLUME_CLAIM)
        if dig(props, "spec", "volumeName") in volumes
    }


def _pods(resource_type: str, props: dict) -> Iterator[Pod]:
    """Every pod a workload runs, the replicated jobs a TrainJob patches included (an Experiment's trials too)."""
    resource_type, props = trial_of(resource_type, props)
    if resource_type == TRAIN_JOB:
        yield from trainjob_patched_pods(props)
    else:
        yield from pod_specs(resource_type, props)


def _validate_pod_identity(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type != IAM_ROLE:
            continue
        trust = plain(resource.props).get("assumeRolePolicy")
        try:
            document = json.loads(trust) if isinstance(trust, str) else None
        except ValueError:
            continue
        for problem in unscoped_pod_identity_statements(document):
            report(
                f"{label(resource.resource_type, resource.name)} trusts EKS Pod Identity without naming the pods "
                f"(statement {problem}); condition it with StringEquals on the session tags of its association's "
                "namespace and service account.",
                resource.urn,
            )
    claims = _pod_identity_claims(args.resources)
    associated = {
        (plain(r.props).get("namespace"), plain(r.props).get("serviceAccount"))
        for r in args.resources
        if r.resource_type == POD_IDENTITY_ASSOCIATION
    }
    for resource in args.resources:
        props = plain(resource.props)
        namespace = dig(props, "metadata", "namespace")
        for pod in _pods(resource.resource_type, props):
            mounted = [
                dig(volume, "persistentVolumeClaim", "claimName")
                for volume in as_list(pod.spec.get("volumes"))
                if (namespace, dig(volume, "persistentVolumeClaim", "claimName")) in claims
            ]
            account = pod.spec.get("serviceAccountName")
            if mounted and account is not UNKNOWN and (namespace, account) not in associated:
                text = (
                    f"its pods mount S3 volumes with the pod's identity ({', '.join(mounted)}) but run as "
                    f"{account or 'the default account'!s}, which no Pod Identity association grants; run them as "
                    "the workload's associated service account"
                )
                report(
                    verdict(pod.path, f"{label(resource.resource_type, resource.name)} {pod.where}", text), resource.urn
                )


pod_identity_scoped = StackValidationPolicy(
    name="pod-identity-scoped",
    description="EKS Pod Identity roles trust only their namespace and service account, and every pod that mounts "
    "an S3 volume with the pod's identity runs as an account a Pod Identity association grants.",
    validate=_validate_pod_identity,
)
