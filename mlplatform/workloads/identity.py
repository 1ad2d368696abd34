"""How workloads reach the buckets without keys: ACK RRSA and EKS Pod Identity, each grant scoped to a prefix.

Nothing here creates an access key or a Secret. A bucket volume declares a `Grant` (bucket, key prefix,
read-only or read-write), and the grant becomes a role that only the mounting identity can assume:

- ACK (RRSA): the OSS CSI plugin mounts with `authType: rrsa` and a RAM role per volume. ossfs runs in the
  CSI plugin's FUSE pod, so the role trusts the cluster's OIDC provider for the service account
  `ack-csi-fuse/csi-fuse-ossfs`, audience `sts.aliyuncs.com` (ACK, "Mount a statically provisioned OSS volume
  using RRSA": https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/user-guide/use-rrsa-to-
  mount-a-statically-provisioned-oss-volume; since CSI v1.30.4 the FUSE pods run in `ack-csi-fuse`).
- ASK (every pod an ECI, `BucketIdentity.mounts_in_pod`): no FUSE pod. The driver's node server runs inside the
  pod's own sandbox (alibaba-cloud-csi-driver v1.37.1 `pkg/oss/csi_agent.go`, `skipGlobalMount`; the MicroVM
  path of `pkg/oss/nodeserver.go` NodePublishVolume) and hands ossfs `rrsa_token_file=$RRSA_TOKEN_FILE`, the
  token the sandbox's agent provides (`pkg/mounter/fuse_pod_manager/oss/utils.go` AppendRRSAAuthOptions,
  `pkg/cloud/metadata/env.go`); the `serviceAccountName` attribute (default `csi-fuse-ossfs`) only names the
  account of a FUSE pod the driver builds (`ossfs/manager.go`), which this path never does. Neither the driver
  nor Alibaba's docs say whose token that is; a sandbox holds one pod, whose only service-account token is its
  own, so the role trusts `system:serviceaccount:<namespace>:<account>` (a projected token's `sub`, Kubernetes
  "Service account tokens") of each workload that mounts the volume (every pod runs as its workload's account,
  `security.harden_pod`), through the same OIDC provider and audience.
- EKS (Pod Identity): Mountpoint for S3 mounts with `authenticationSource: pod`, the credentials of the pod's
  own service account (mountpoint-s3-csi-driver v2, docs/CONFIGURATION.md "Pod-level credentials"). Each
  workload gets one role holding its volumes' grants, associated with its service account
  (`aws.eks.PodIdentityAssociation`; trust `pods.eks.amazonaws.com`, docs.aws.amazon.com/eks/latest/userguide/
  pod-id-role.html), and trusting only that association's pods: StringEquals on the session tags Pod Identity
  sets, `eks-cluster-name`, `kubernetes-namespace`, `kubernetes-service-account` (`rules.pod_identity_trust`).
  Every pod that mounts the volumes runs as that account (the MPI launcher too: `training.py`).

Roles never delete objects in prod (`allow_delete` is off there); a read-only grant reads and lists only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws

from mlplatform.rules import pod_identity_trust

OSS_FUSE_SERVICE_ACCOUNT = "system:serviceaccount:ack-csi-fuse:csi-fuse-ossfs"
RRSA_AUDIENCE = "sts.aliyuncs.com"
# RAM role and policy names: at most 64 characters of letters, digits and '-'.
RAM_NAME_LENGTH = 64


@dataclass(frozen=True)
class BucketIdentity:
    """What a stack's workloads authenticate to the buckets with."""

    cloud: str
    # ACK: the cluster's RRSA OIDC provider (cluster `rrsa_metadata`), which RAM roles trust.
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer_url: pulumi.Input[str] | None = None
    # EKS: the cluster whose Pod Identity agent hands a workload its role.
    cluster_name: pulumi.Input[str] | None = None
    # dev may delete inside its prefixes (ossfs renames by copy and delete); prod never deletes.
    allow_delete: bool = False
    # Names RAM/IAM roles apart across the stacks of one account (dev and prod may share one).
    stack: str = ""
    # ASK: the OSS driver mounts inside each pod's ECI sandbox with that pod's own token (module doc), so a volume's
    # role trusts the accounts of the pods that mount it, and the volume names the role by ARN.
    mounts_in_pod: bool = False


@dataclass(frozen=True)
class Grant:
    bucket: pulumi.Input[str]
    prefix: str  # "color/v2/" or "" for the whole bucket
    writable: bool
    # What the workload is (serving, training, notebook): the role's `mlplatform.io/purpose` tag, which the
    # policy pack reads to keep serving roles read-only.
    purpose: str = "workload"


PURPOSE_TAG = "mlplatform.io/purpose"


def cloud_name(*parts: str) -> str:
    """A role or policy name from our resource names, unique per stack and within the cloud's 64 characters."""
    text = "-".join(part for part in parts if part)
    if len(text) <= RAM_NAME_LENGTH:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: RAM_NAME_LENGTH - 9]}-{digest}"


def oss_actions(grant: Grant, allow_delete: bool) -> list[str]:
    actions = ["oss:GetObject"]
    if grant.writable:
        actions += ["oss:PutObject", "oss:AbortMultipartUpload", "oss:ListParts"]
        actions += ["oss:DeleteObject"] if allow_delete else []
    return actions


def oss_policy(grant: Grant, bucket: str, allow_delete: bool) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["oss:ListObjects", "oss:GetBucketInfo"],
                    "Resource": [f"acs:oss:*:*:{bucket}"],
                },
                {
                    "Effect": "Allow",
                    "Action": oss_actions(grant, allow_delete),
                    "Resource": [f"acs:oss:*:*:{bucket}/{grant.prefix}*"],
                },
            ],
        }
    )


def rrsa_trust(provider_arn: str, issuer_url: str, subjects: Sequence[str]) -> str:
    """A RAM trust policy for RRSA tokens whose `sub` is one of `subjects` (a single one stays a string)."""
    subject = subjects[0] if len(subjects) == 1 else sorted(subjects)
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Action": "sts:AssumeRole",
                    "Effect": "Allow",
                    "Principal": {"Federated": [provider_arn]},
                    "Condition": {
                        "StringEquals": {"oidc:aud": RRSA_AUDIENCE, "oidc:iss": issuer_url, "oidc:sub": subject}
                    },
                }
            ],
        }
    )


def oss_volume_subjects(identity: BucketIdentity, namespace: str, service_accounts: Sequence[str]) -> list[str]:
    """Who mounts an OSS volume, as RRSA `sub`s: the CSI plugin's FUSE pod on ECS nodes (ACK), or on ECI (ASK) the
    service accounts `service_accounts` of the pods in `namespace` that mount it."""
    if not identity.mounts_in_pod:
        return [OSS_FUSE_SERVICE_ACCOUNT]
    return [f"system:serviceaccount:{namespace}:{account}" for account in sorted(set(service_accounts))]


@dataclass(frozen=True)
class VolumeRole:
    """An OSS volume's RAM role, `name` and `arn` resolving once its policy is attached."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]


def oss_volume_role(
    name: str,
    grant: Grant,
    identity: BucketIdentity,
    parent: pulumi.Resource,
    namespace: pulumi.Input[str],
    service_accounts: Sequence[str],
) -> VolumeRole:
    """A RAM role for one OSS volume, assumable only by what mounts it (`oss_volume_subjects`)."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = alicloud.ram.Role(
        f"{name}-role",
        role_name=cloud_name("mlp", identity.stack, name),
        description=f"ml-platform: {'read-write' if grant.writable else 'read-only'} OSS volume {name}",
        tags={PURPOSE_TAG: grant.purpose},
        assume_role_policy_document=pulumi.Output.all(
            identity.oidc_provider_arn, identity.oidc_issuer_url, namespace
        ).apply(
            lambda values: rrsa_trust(values[0], values[1], oss_volume_subjects(identity, values[2], service_accounts))
        ),
        opts=opts,
    )
    policy = alicloud.ram.Policy(
        f"{name}-policy",
        policy_name=cloud_name("mlp", identity.stack, name),
        policy_document=pulumi.Output.from_input(grant.bucket).apply(
            lambda bucket: oss_policy(grant, bucket, identity.allow_delete)
        ),
        opts=opts,
    )
    attachment = alicloud.ram.RolePolicyAttachment(
        f"{name}-policy",
        role_name=role.role_name,
        policy_name=policy.policy_name,
        policy_type="Custom",
        opts=opts,
    )
    # The volume may mount only once the role can do what the mount needs.
    return VolumeRole(
        name=pulumi.Output.all(role.role_name, attachment.id).apply(lambda values: values[0]),
        arn=pulumi.Output.all(role.arn, attachment.id).apply(lambda values: values[0]),
    )


def s3_policy(grants: Sequence[tuple[str, Grant]], allow_delete: bool) -> str:
    statements = []
    for bucket, grant in grants:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{grant.prefix}*"]}} if grant.prefix else {},
            }
        )
        actions = ["s3:GetObject"]
        if grant.writable:
            actions += ["s3:PutObject", "s3:AbortMultipartUpload"] + (["s3:DeleteObject"] if allow_delete else [])
        statements.append(
            {"Effect": "Allow", "Action": actions, "Resource": [f"arn:aws:s3:::{bucket}/{grant.prefix}*"]}
        )
    for statement in statements:
        if not statement.get("Condition"):
            statement.pop("Condition", None)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def pod_identity(
    name: str,
    namespace: pulumi.Input[str],
    service_account: str,
    grants: Sequence[Grant],
    identity: BucketIdentity,
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """EKS: one role with the workload's grants, handed to its service account's pods (what the pods must wait
    for); nothing elsewhere."""
    if identity.cloud != "aws" or not grants:
        return []
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-role",
        name=cloud_name("mlp", identity.stack, name),
        assume_role_policy=pulumi.Output.all(identity.cluster_name, namespace).apply(
            lambda values: json.dumps(pod_identity_trust(values[0], values[1], service_account))
        ),
        tags={PURPOSE_TAG: grants[0].purpose},
        opts=opts,
    )
    buckets = pulumi.Output.all(*(grant.bucket for grant in grants))
    policy = aws.iam.RolePolicy(
        f"{name}-buckets",
        role=role.name,
        policy=buckets.apply(lambda names: s3_policy(list(zip(names, grants, strict=True)), identity.allow_delete)),
        opts=opts,
    )
    association = aws.eks.PodIdentityAssociation(
        f"{name}-identity",
        cluster_name=identity.cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.arn,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy]),
    )
    return [association]
