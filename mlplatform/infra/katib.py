"""Katib v0.19.0, Kubeflow's hyper-parameter tuning: installed only when the stack config has an experiment.

Katib publishes no Helm chart; its README installs the kustomize overlay `manifests/v1beta1/installs/
katib-standalone` at the release tag, applied here as a `kustomize.v2.Directory` like the training operator
(`mlplatform/infra/operators.py`). That overlay (kubeflow/katib@v0.19.0) brings into namespace `kubeflow`:
- the CRDs (Experiment, Suggestion, Trial), the controller with its webhooks (`components/webhook/webhooks.yaml`:
  the Experiment validator and defaulter, and a pod mutator that injects the metrics collector sidecar into the
  trials' primary pods in namespaces labelled `katib.kubeflow.org/metrics-collector-injection: enabled`, which the
  team training namespaces carry when the stack has experiments, `mlplatform/infra/tenancy.py`);
- the DB manager (Service `katib-db-manager`, port 6789, which the sidecars report metrics to: a flow of
  `mlplatform/infra/flows.py`) and its MySQL (`mysql:8.0.29`, PVC `katib-mysql` of 10Gi of the default
  StorageClass, `components/mysql/pvc.yaml`); the UI. ASK has no default StorageClass and Alibaba Cloud disks
  start at 20Gi, so the claim is rewritten to the platform's disk class (`DISK_STORAGE_CLASS`, which every
  cluster gets from `infra/workspace.py`) at `KATIB_DB_SIZE`, and kept on delete: it holds every trial's history.
- `katib-config` (`katib-config.yaml`): `trialResources` already admits every trial kind the platform renders,
  `TrainJob.v1alpha1.trainer.kubeflow.org` and the training operator's `TFJob`/`PyTorchJob`/`MPIJob`/`XGBoostJob`
  `.v1.kubeflow.org`, so it is applied as published; its `runtime` names the images the controller starts in
  the trials' namespaces (suggestion services, metrics collectors), which the mirror rewrites (`katib_config`).

Both this overlay and the training operator's create Namespace `kubeflow`; Katib's is kept on delete
(`retain_on_delete`), so removing the last experiment never deletes the training operator's namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import images, pins
from mlplatform.conventions import DISK_STORAGE_CLASS, mirrored

KATIB_NAMESPACE = "kubeflow"
KATIB_CONFIG = "katib-config"
# The DB manager's Service port, where the trials' metrics collectors send metrics
# (components/db-manager/service.yaml), and the port of each experiment's suggestion service, which the controller
# calls in the experiment's namespace (pkg/controller.v1beta1/consts/const.go DefaultSuggestionPort).
DB_MANAGER_PORT = 6789
SUGGESTION_PORT = 6789
# The labels of the controller's and the DB manager's pods (components/controller/controller.yaml,
# components/db-manager/db-manager.yaml).
COMPONENT_LABEL = "katib.kubeflow.org/component"
# The namespace label Katib's pod webhook selects: trial pods of other namespaces get no metrics collector.
KATIB_INJECTION = ("katib.kubeflow.org/metrics-collector-injection", "enabled")
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
CLAIM_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
KATIB_DB_CLAIM = "katib-mysql"
KATIB_DB_SIZE = "20Gi"
CONFIG_MAP_TYPE = "kubernetes:core/v1:ConfigMap"
_IMAGE_LINE = re.compile(r"^(\s*(?:- )?image: )(\S+)\s*$", re.MULTILINE)


def katib_config(text: str, registry: str) -> str:
    """katib-config.yaml with every `image:` it names pulled through `registry`."""
    return _IMAGE_LINE.sub(lambda match: f"{match.group(1)}{mirrored(match.group(2), registry)}", text)


def katib_db_claim(props: dict) -> dict:
    """Katib's MySQL claim on the platform's disk class, at least the smallest Alibaba Cloud disk."""
    spec = dict(props.get("spec") or {})
    spec["storageClassName"] = DISK_STORAGE_CLASS
    spec["resources"] = {**(spec.get("resources") or {}), "requests": {"storage": KATIB_DB_SIZE}}
    return {**props, "spec": spec}


def katib_transform(registry: str | None):
    """The transform of the overlay's objects: its Namespace kept on delete, and with a mirror every container and
    katib-config's runtime images pulled through it."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        kept = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
        if args.type_ == NAMESPACE_TYPE:
            return pulumi.ResourceTransformResult(args.props, kept)
        if args.type_ == CLAIM_TYPE and (args.props.get("metadata") or {}).get("name") == KATIB_DB_CLAIM:
            return pulumi.ResourceTransformResult(katib_db_claim(args.props), kept)
        if not registry:
            return None
        props = args.props
        if args.type_ == CONFIG_MAP_TYPE and (props.get("metadata") or {}).get("name") == KATIB_CONFIG:
            data = {key: katib_config(value, registry) for key, value in (props.get("data") or {}).items()}
            return pulumi.ResourceTransformResult({**props, "data": data}, args.opts)
        if any(True for _ in images.containers(props)):
            return pulumi.ResourceTransformResult(images.mirror_containers(props, registry), args.opts)
        return None

    return transform


@dataclass(frozen=True)
class KatibArgs:
    # The registry every image is pulled through (`operators.imageRegistry`); None: the upstream registries.
    image_registry: str | None = None


class Katib(pulumi.ComponentResource):
    """Output `ready`: the install, for experiments to depend on (their CRD and webhooks come with it)."""

    def __init__(self, name: str, args: KatibArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:katib:Katib", name, None, opts)
        self.install = k8s.kustomize.v2.Directory(
            f"{name}-{images.KATIB.name}",
            directory=images.KATIB.url.format(version=pins.KATIB.version),
            # The overlay's own `namespace: kubeflow` (every object has it already); said here so the plan knows it.
            namespace=KATIB_NAMESPACE,
            opts=pulumi.ResourceOptions(parent=self, transforms=[katib_transform(args.image_registry)]),
        )
        self.ready: list[pulumi.Resource] = [self.install]
        self.register_outputs({"version": pins.KATIB.version})
