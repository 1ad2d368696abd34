"""Which Services exist in a plan: those it renders, and those its charts and operators create, by their own naming.

Every in-cluster address the platform hands out (a web service's SERVING_URL, the endpoints outputs, a KEDA
trigger's `serverAddress`) must name one of them (`tests/offline/test_plan_whole.py`, over the four shipped plans).
What creates a Service, and under which name, is upstream fact:

- Helm releases (`SERVICES_OF_RELEASES`): Emissary's chart names its Service after the release when the release
  name contains the chart's (`emissary-ingress` `_helpers.tpl` fullname, v4.1.0); Istio's `gateway` chart after the
  release (`gateway.name`, 1.31); the Prometheus chart `<release>-server` (mlplatform/infra/keda.py).
- A Gateway API `Gateway` of class `istio`: istiod deploys its proxy behind the Service `<gateway>-istio`
  (`kube-gateway.yaml`, release-1.31; mlplatform/infra/kserve.py `GATEWAY_SERVICE`).
- A KServe `InferenceService`: the Service `<name>-predictor` (Standard mode, `constants.PredictorServiceName`).
- A Kubeflow `Notebook`: the Service `<name>` (notebook controller `generateService`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from mlplatform.infra.keda import chart_services as prometheus_services
from mlplatform.infra.kserve import GATEWAY_CLASS
from mlplatform.workloads.kserve import predictor_service

SERVICES_OF_RELEASES: dict[str, Callable[[str], tuple[str, ...]]] = {
    "emissary-ingress": lambda release: (release,),
    "istio-ingressgateway": lambda release: (release,),
    "keda-prometheus": prometheus_services,
}
# Kinds whose operator creates a Service for each object, by its name.
SERVICES_OF_OBJECTS: dict[str, Callable[[dict], str | None]] = {
    "Gateway": lambda gateway: (
        f"{gateway['metadata']['name']}-{GATEWAY_CLASS}"
        if gateway.get("spec", {}).get("gatewayClassName") == GATEWAY_CLASS
        else None
    ),
    "InferenceService": lambda service: predictor_service(service["metadata"]["name"], None),
    "Notebook": lambda notebook: notebook["metadata"]["name"],
}


def plan_services(manifests: Iterable[dict], releases: Iterable[dict]) -> set[tuple[str, str]]:
    """(namespace, name) of every Service the plan renders or makes its charts and operators create."""
    return set(_services(manifests, releases))


def _services(manifests: Iterable[dict], releases: Iterable[dict]) -> Iterator[tuple[str, str]]:
    for release in releases:
        created = SERVICES_OF_RELEASES.get(release.get("name") or "")
        for name in created(release["name"]) if created else ():
            yield release.get("namespace", ""), name
    for manifest in manifests:
        metadata = manifest.get("metadata", {})
        if manifest.get("kind") == "Service":
            yield metadata.get("namespace", ""), metadata["name"]
        elif manifest.get("kind") in SERVICES_OF_OBJECTS:
            name = SERVICES_OF_OBJECTS[manifest["kind"]](manifest)
            if name:
                yield metadata.get("namespace", ""), name
