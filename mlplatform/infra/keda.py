"""KEDA 2.20.2: scales Deployments on external metrics, down to zero replicas (which an HPA cannot).

Chart `keda` from https://kedacore.github.io/charts, version `2.20.2` (= appVersion; kedacore/charts
`keda/Chart.yaml`), with its CRDs (`crds.install: true`, the default). The LLM servings that scale to zero
render a `ScaledObject` (keda.sh/v1alpha1, CRD v2.20.2) against their predictor Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import pins
from mlplatform.infra.helm import HELM_TIMEOUT_SECONDS

KEDA_VERSION = pins.KEDA.version
KEDA_REPO = pins.KEDA.repo
KEDA_NAMESPACE = "keda"


@dataclass(frozen=True)
class KedaArgs:
    version: str = KEDA_VERSION


class Keda(pulumi.ComponentResource):
    """Outputs `ready`: the release, for ScaledObjects to depend on."""

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:keda:Keda", name, None, opts)
        namespace = k8s.core.v1.Namespace(
            f"{name}-{KEDA_NAMESPACE}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=KEDA_NAMESPACE),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-keda",
            name="keda",
            chart="keda",
            version=args.version,
            namespace=namespace.metadata.name,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=KEDA_REPO),
            values={"crds": {"install": True}},
            atomic=True,
            timeout=HELM_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ready: list[pulumi.Resource] = [self.release]
        self.register_outputs({"version": args.version})
