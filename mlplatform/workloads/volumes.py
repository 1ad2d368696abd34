"""A bucket prefix as a pod volume: a static PersistentVolume + claim on the cloud's object-storage CSI driver.

OSS goes through ACK's `ossplugin.csi.alibabacloud.com` (ossfs), with RRSA: on ACK the volume names its role
(`roleName`), which the driver turns into an ARN for its FUSE pod; on ASK the driver mounts inside the pod's ECI
sandbox and the volume names the role and the OIDC provider by ARN (`roleArn`, `oidcProviderArn`: with both set
the driver reads nothing from the sandbox's metadata, alibaba-cloud-csi-driver v1.37.1
`pkg/mounter/fuse_pod_manager/oss/utils.go` CheckRRSAParams, GetRRSAConfig), the role trusting the service
accounts of the pods that mount it (`identity.py`). ossfs refuses to mount a bucket path that does
not exist yet, and a model version's directory never exists before its training job writes it, so a writable
OSS volume mounts the bucket and the container mount is narrowed with `subPath` (the kubelet creates it); a
read-only one mounts its prefix, which exists. S3 goes through Mountpoint for Amazon S3 (`s3.csi.aws.com`), whose
`prefix` mount option needs no existing key, so the volume itself is narrowed. Either way the container only
ever sees `<prefix>`, and the role behind the volume may touch only `<prefix>` (`identity.py`): no keys.

A model version a namespace serves is one read-only volume there (`model_volume`), whatever the number of servings
that mount it: the volume and its role belong to the version, the read grant of each serving's own identity (EKS)
to the serving.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from mlplatform.rules import model_prefix
from mlplatform.workloads.identity import BucketIdentity, Grant, VolumeRole, oss_volume_role

OSS_DRIVER = "ossplugin.csi.alibabacloud.com"
S3_DRIVER = "s3.csi.aws.com"
# Object storage has no size; the API server still requires a capacity on the PV and the claim.
NOMINAL_CAPACITY = "1Ti"
# A claim name that is also a DNS label, so the names built on it (the PersistentVolume `<namespace>-<claim>`,
# the RAM role and policy `mlp-<stack>-<namespace>-<claim>`: RAM policy names take letters, digits and '-' only,
# Alibaba Cloud RAM API CreatePolicy) are valid too.
DNS_LABEL_LENGTH = 63


@dataclass(frozen=True)
class BucketStorage:
    """Where the buckets are and how a node mounts them; the same for every workload of a stack."""

    datasets_bucket: pulumi.Input[str]
    models_bucket: pulumi.Input[str]
    scheme: Literal["oss", "s3"]
    # e.g. https://oss-cn-hangzhou-internal.aliyuncs.com or https://s3.eu-west-1.amazonaws.com
    endpoint: str
    # RRSA roles per OSS volume, or the pod's own Pod Identity on S3 (identity.py).
    identity: BucketIdentity

    def uri(self, bucket: pulumi.Input[str], prefix: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.scheme, "://", bucket, "/", prefix)


@dataclass(frozen=True)
class BucketVolumeArgs:
    storage: BucketStorage
    bucket: pulumi.Input[str]
    # A key prefix ending in "/" (e.g. "color/v2/"), or "" for the whole bucket.
    prefix: str
    namespace: pulumi.Input[str]
    writable: bool
    # serving, training or notebook: tags the role behind the volume (identity.Grant.purpose).
    purpose: str = "workload"
    # The PersistentVolumeClaim's name in `namespace` (the PersistentVolume is `<namespace>-<claim>`); by default
    # the component's name.
    claim_name: str | None = None
    # The service accounts of the pods that mount the volume (each workload's own, `security.service_account`):
    # on ASK the OSS role trusts exactly these (identity.oss_volume_subjects).
    service_accounts: tuple[str, ...] = ()


def _s3_region_option(endpoint: str) -> str:
    """Mountpoint signs requests for one region: name it when the endpoint is AWS's, else pass the endpoint."""
    match = re.search(r"s3[.-]([a-z0-9-]+)\.amazonaws\.com", endpoint)
    return f"region {match.group(1)}" if match else f"endpoint-url {endpoint}"


class BucketVolume(pulumi.ComponentResource):
    """`claim_name` goes into a pod's volumes; `mount(volume, path)` gives the container's volumeMount for it;
    `grant` is what the pod's identity must be allowed (EKS: the workload's Pod Identity role carries it)."""

    claim_name: pulumi.Output[str]
    sub_path: str
    read_only: bool
    grant: Grant

    def __init__(self, name: str, args: BucketVolumeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:datasets:BucketVolume", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        access_modes = ["ReadWriteMany"] if args.writable else ["ReadOnlyMany"]
        claim_name = args.claim_name or name
        # PersistentVolumes are cluster-wide: the namespace keeps two namespaces' volumes apart.
        volume_name = pulumi.Output.concat(args.namespace, "-", claim_name)
        self.grant = Grant(args.bucket, args.prefix, args.writable, args.purpose)
        if args.storage.scheme == "oss":
            role = oss_volume_role(name, self.grant, args.storage.identity, self, args.namespace, args.service_accounts)
            csi, mount_options = self._oss_source(args, volume_name, role)
            self.sub_path = args.prefix.rstrip("/") if args.writable else ""
        else:
            csi, mount_options = self._s3_source(args, volume_name)
            self.sub_path = ""
        volume_spec = {
            "capacity": {"storage": NOMINAL_CAPACITY},
            "accessModes": access_modes,
            # Deleting the volume must never touch the bucket's objects.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            # Only this claim may bind the volume.
            "claimRef": {"namespace": args.namespace, "name": claim_name},
            "csi": csi,
        }
        if mount_options:
            volume_spec["mountOptions"] = mount_options
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-pv", metadata={"name": volume_name}, spec=volume_spec, opts=child
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-pvc",
            metadata={"name": claim_name, "namespace": args.namespace},
            spec={
                "accessModes": access_modes,
                "storageClassName": "",
                "volumeName": volume.metadata.name,
                "resources": {"requests": {"storage": NOMINAL_CAPACITY}},
            },
            opts=child,
        )
        self.read_only = not args.writable
        self.claim_name = claim.metadata.name
        self.register_outputs({"claimName": self.claim_name, "subPath": self.sub_path})

    @staticmethod
    def _oss_source(
        args: BucketVolumeArgs, volume_name: pulumi.Output[str], role: VolumeRole
    ) -> tuple[dict, list[str]]:
        options = "-o allow_other" + ("" if args.writable else " -o ro")
        identity = args.storage.identity
        # RRSA: ossfs assumes the role with the FUSE pod's service-account token (ACK) or the mounting pod's (ASK).
        if identity.mounts_in_pod:
            rrsa = {"authType": "rrsa", "roleArn": role.arn, "oidcProviderArn": identity.oidc_provider_arn}
        else:
            rrsa = {"authType": "rrsa", "roleName": role.name}
        csi = {
            "driver": OSS_DRIVER,
            "volumeHandle": volume_name,
            "readOnly": not args.writable,
            "volumeAttributes": {
                "bucket": args.bucket,
                "url": args.storage.endpoint,
                "path": "/" if args.writable else f"/{args.prefix}",
                "otherOpts": options,
                **rrsa,
            },
        }
        return csi, []

    @staticmethod
    def _s3_source(args: BucketVolumeArgs, volume_name: pulumi.Output[str]) -> tuple[dict, list[str]]:
        options = ["allow-other", _s3_region_option(args.storage.endpoint)]
        options.append("allow-overwrite" if args.writable else "read-only")
        if args.prefix:
            options.append(f"prefix {args.prefix}")
        csi = {
            "driver": S3_DRIVER,
            "volumeHandle": volume_name,
            "readOnly": not args.writable,
            # The mount uses the pod's own credentials (its Pod Identity role), not the driver's.
            "volumeAttributes": {"bucketName": args.bucket, "authenticationSource": "pod"},
        }
        return csi, options

    def pod_volume(self, volume: str) -> dict:
        return {"name": volume, "persistentVolumeClaim": {"claimName": self.claim_name, "readOnly": self.read_only}}

    def mount(self, volume: str, path: str) -> dict:
        mount = {"name": volume, "mountPath": path, "readOnly": self.read_only}
        if self.sub_path:
            mount["subPath"] = self.sub_path
        return mount


def model_claim_name(version: str) -> str:
    """`color:v2` -> `model-color-v2`: the claim of a model version's read-only volume in a namespace."""
    return version_label("model", version)


def version_label(prefix: str, version: str) -> str:
    """`<prefix>-color-v2`: a name for what belongs to one model version, fit for a Kubernetes object and a
    RAM or IAM role or policy (RAM policy names take only letters, digits and '-').

    A DNS label that reads as the version when the version is lowercase letters and digits (then the version is
    what follows the last '-', so two versions never share a name); any other version (`V2`, `2.5-7b`, `rc_1`) or
    a name past 63 characters becomes `<prefix>-<the version, '-' for other characters, cut>-<sha256 prefix>`.
    """
    model, _, tag = version.partition(":")
    readable = f"{prefix}-{model}-{tag}"
    if re.fullmatch(r"[a-z0-9]+", tag) and len(readable) <= DNS_LABEL_LENGTH:
        return readable
    digest = hashlib.sha256(version.encode()).hexdigest()[:8]
    text = re.sub(r"[^a-z0-9-]+", "-", readable.lower())[: DNS_LABEL_LENGTH - len(digest) - 1].strip("-")
    return f"{text}-{digest}"


def model_volume(
    namespace_key: str,
    version: str,
    storage: BucketStorage,
    namespace: pulumi.Input[str],
    servings: Sequence[str],
    opts: pulumi.ResourceOptions | None = None,
) -> BucketVolume:
    """The model version read-only from the models bucket (`<bucket>/color/v2/`) for the `servings` of one
    namespace that serve it (each runs as its own account, named after it): claim `model-color-v2`,
    PersistentVolume and component `<namespace>-model-color-v2` (on ACK the RAM role
    `mlp-<stack>-<namespace>-model-color-v2`, which reads `color/v2/` only)."""
    claim = model_claim_name(version)
    return BucketVolume(
        f"{namespace_key}-{claim}",
        BucketVolumeArgs(
            storage,
            storage.models_bucket,
            f"{model_prefix(version)}/",
            namespace,
            writable=False,
            purpose="serving",
            claim_name=claim,
            service_accounts=tuple(servings),
        ),
        opts=opts,
    )
