"""A promoted model version copied from the publishing (dev) stack's models bucket into this stack's, in the plan.

Promotion completes itself: for every version prod serves because dev published it, prod runs a Job that
mounts dev's `<model>/<version>/` read-only and its own writable, copies the files, and checks every file's
sha256 against the source before it succeeds. The serving depends on the Job (`pulumi.com/waitFor:
condition=Complete`), so a version whose copy fails is never served. The Job reaches both buckets through
workload identity (identity.py): a role that reads the source prefix and writes the target prefix, nothing else.
Copying again is harmless: the same files land in the same place and are checked again.

One copy per version, whichever servings serve it; it runs in the first (in sorted order) of the namespaces whose
servings serve it (`copy_namespaces`), so the order servings are listed in never moves or renames a copy.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import images
from mlplatform.config import Serving
from mlplatform.rules import model_prefix
from mlplatform.workloads.identity import pod_identity
from mlplatform.workloads.security import RUN_AS, harden_pod, service_account
from mlplatform.workloads.volumes import BucketStorage, BucketVolume, BucketVolumeArgs, version_label

# A small image with sh, cp, find and sha256sum; pinned (the images-pinned policy refuses floating tags). The
# caller pulls it through `operators.imageRegistry` when one is set (`stacks/workloads.py` model_copies).
COPY_IMAGE = images.COPY_IMAGE
# Copy, then verify the copy against the source's checksums: the Job fails on any difference.
COPY_SCRIPT = """set -eu
cd /source
find . -type f | sort | xargs -r sha256sum > /tmp/source.sha256
test -s /tmp/source.sha256 || { echo "no files under the source version" >&2; exit 1; }
cp -R . /target/
cd /target
sha256sum -c /tmp/source.sha256
"""
COPY_TIMEOUT_S = 1800


@dataclass(frozen=True)
class ModelCopyArgs:
    version: str  # color:v2
    # The publishing stack's models bucket (from its `buckets` output), and this stack's storage.
    source_bucket: pulumi.Input[str]
    storage: BucketStorage
    namespace: pulumi.Input[str]
    image: str = COPY_IMAGE
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


def copy_name(version: str) -> str:
    """`color:v2` -> `promote-color-v2`: the copy's component, its Job and (with `-source`, `-target`) its volumes
    and their roles; `color:v2.1` gets a digest suffix, as every name `version_label` makes."""
    return version_label("promote", version)


def copy_namespaces(servings: Iterable[Serving], promoted: Collection[str]) -> dict[str, str]:
    """Promoted version -> the namespace (a placed serving's `namespace`) its copy runs in: the first in sorted
    order of those whose servings serve it, whatever order the servings and their predictors are listed in."""
    served_in: dict[str, set[str]] = {}
    for serving in servings:
        for _, version in serving.served_versions():  # its predictors' versions, and an LLM's weights
            if version in promoted:
                served_in.setdefault(version, set()).add(serving.namespace)
    return {version: min(namespaces) for version, namespaces in sorted(served_in.items())}


class ModelCopy(pulumi.ComponentResource):
    """Output `job`: the copy Job a serving of this version depends on."""

    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: ModelCopyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:promotion:ModelCopy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"{model_prefix(args.version)}/"
        source_storage = replace(args.storage, models_bucket=args.source_bucket)
        source = BucketVolume(
            f"{name}-source",
            BucketVolumeArgs(
                source_storage,
                args.source_bucket,
                prefix,
                args.namespace,
                writable=False,
                purpose="promotion",
                service_accounts=(name,),
            ),
            opts=child,
        )
        target = BucketVolume(
            f"{name}-target",
            BucketVolumeArgs(
                args.storage,
                args.storage.models_bucket,
                prefix,
                args.namespace,
                writable=True,
                purpose="promotion",
                service_accounts=(name,),
            ),
            opts=child,
        )
        account, account_name = service_account(name, args.namespace, self)
        identity = pod_identity(name, args.namespace, name, [source.grant, target.grant], args.storage.identity, self)
        pod = harden_pod(
            {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "copy",
                        "image": args.image,
                        "command": ["sh", "-c", COPY_SCRIPT],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                        "volumeMounts": [source.mount("source", "/source"), target.mount("target", "/target")],
                    }
                ],
                "volumes": [source.pod_volume("source"), target.pod_volume("target")],
            },
            RUN_AS["training"],
            service_account=account_name,
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata={
                "name": copy_name(args.version),
                "namespace": args.namespace,
                "labels": {"app.kubernetes.io/part-of": "ml-platform"},
                "annotations": {
                    "mlplatform.io/model-version": args.version,
                    "pulumi.com/waitFor": "condition=Complete",
                    "pulumi.com/timeoutSeconds": str(COPY_TIMEOUT_S),
                },
            },
            spec={"backoffLimit": 2, "template": {"spec": pod}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[source, target, account, *identity, *args.depends_on]),
        )
        self.register_outputs({"job": self.job.metadata.name})
