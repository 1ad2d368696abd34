"""KEDA 2.20.2: scales Deployments on external metrics, down to zero replicas (which an HPA cannot).

Chart `keda` from https://kedacore.github.io/charts, version `2.20.2` (= appVersion; kedacore/charts
`keda/Chart.yaml`), with its CRDs (`crds.install: true`, the default). The LLM servings that scale to zero
render a `ScaledObject` (keda.sh/v1alpha1, CRD v2.20.2) against their predictor Deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from mlplatform import pins
from mlplatform.infra import helm

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
        namespace = helm.namespace(f"{name}-{KEDA_NAMESPACE}-ns", KEDA_NAMESPACE, self)
        self.release = helm.pinned_release(
            f"{name}-keda",
            "keda",
            "keda",
            args.version,
            namespace.metadata.name,
            {"crds": {"install": True}},
            self,
            KEDA_REPO,
        )
        self.ready: list[pulumi.Resource] = [self.release]
        self.register_outputs({"version": args.version})
