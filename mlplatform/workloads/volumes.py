"""A bucket prefix as a pod volume: a static PersistentVolume + claim on the cloud's object-storage CSI driver.

OSS goes through ACK's `ossplugin.csi.alibabacloud.com` (ossfs). ossfs refuses to mount a bucket path that does
not exist yet, and a model version's directory never exists before its training job writes it, so on OSS the
whole bucket is mounted and the container mount is narrowed with `subPath` (the kubelet creates it).
S3 goes through Mountpoint for Amazon S3 (`s3.csi.aws.com`), whose `prefix` mount option needs no existing key,
so the volume itself is narrowed. Either way the container only ever sees `<prefix>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

OSS_DRIVER = "ossplugin.csi.alibabacloud.com"
S3_DRIVER = "s3.csi.aws.com"
# Object storage has no size; the API server still requires a capacity on the PV and the claim.
NOMINAL_CAPACITY = "1Ti"


@dataclass(frozen=True)
class BucketStorage:
    """Where the buckets are and how a node mounts them; the same for every workload of a stack."""

    datasets_bucket: pulumi.Input[str]
    models_bucket: pulumi.Input[str]
    scheme: Literal["oss", "s3"]
    # e.g. https://oss-cn-hangzhou-internal.aliyuncs.com or https://s3.eu-west-1.amazonaws.com
    endpoint: str
    # OSS only: a Secret in the workload's namespace with keys `akId` and `akSecret` that ossfs mounts with.
    # Mountpoint for S3 takes its credentials from the driver (IRSA / Pod Identity), never from the volume.
    credentials_secret: str

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


def _s3_region_option(endpoint: str) -> str:
    """Mountpoint signs requests for one region: name it when the endpoint is AWS's, else pass the endpoint."""
    match = re.search(r"s3[.-]([a-z0-9-]+)\.amazonaws\.com", endpoint)
    return f"region {match.group(1)}" if match else f"endpoint-url {endpoint}"


class BucketVolume(pulumi.ComponentResource):
    """`claim_name` goes into a pod's volumes; `mount(volume, path)` gives the container's volumeMount for it."""

    claim_name: pulumi.Output[str]
    sub_path: str
    read_only: bool

    def __init__(self, name: str, args: BucketVolumeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:datasets:BucketVolume", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        access_modes = ["ReadWriteMany"] if args.writable else ["ReadOnlyMany"]
        # PersistentVolumes are cluster-wide: the namespace keeps two namespaces' volumes apart.
        volume_name = pulumi.Output.concat(args.namespace, "-", name)
        if args.storage.scheme == "oss":
            csi, mount_options = self._oss_source(args, volume_name)
            self.sub_path = args.prefix.rstrip("/")
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
            "claimRef": {"namespace": args.namespace, "name": name},
            "csi": csi,
        }
        if mount_options:
            volume_spec["mountOptions"] = mount_options
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-pv", metadata={"name": volume_name}, spec=volume_spec, opts=child
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-pvc",
            metadata={"name": name, "namespace": args.namespace},
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
    def _oss_source(args: BucketVolumeArgs, volume_name: pulumi.Output[str]) -> tuple[dict, list[str]]:
        options = "-o allow_other" + ("" if args.writable else " -o ro")
        csi = {
            "driver": OSS_DRIVER,
            "volumeHandle": volume_name,
            "readOnly": not args.writable,
            "nodePublishSecretRef": {"name": args.storage.credentials_secret, "namespace": args.namespace},
            "volumeAttributes": {
                "bucket": args.bucket,
                "url": args.storage.endpoint,
                "path": "/",
                "otherOpts": options,
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
            "volumeAttributes": {"bucketName": args.bucket},
        }
        return csi, options

    def pod_volume(self, volume: str) -> dict:
        return {"name": volume, "persistentVolumeClaim": {"claimName": self.claim_name, "readOnly": self.read_only}}

    def mount(self, volume: str, path: str) -> dict:
        mount = {"name": volume, "mountPath": path, "readOnly": self.read_only}
        if self.sub_path:
            mount["subPath"] = self.sub_path
        return mount
