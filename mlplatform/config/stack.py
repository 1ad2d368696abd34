"""The whole `ml-platform:` namespace of a stack file, and the rules that span its parts."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlplatform import rules
from mlplatform.config.base import DNS_LABEL, Model, ModelVersionRef, PathError
from mlplatform.config.infra import Buckets, Cluster, NodePool, Observability, Operators
from mlplatform.config.workloads import Notebook, Promotion, Serving, TrainingJob, WebService


class StackConfig(Model):
    cloud: Literal["alicloud", "aws"]
    region: str
    cluster: Cluster
    node_pools: dict[Annotated[str, Field(pattern=DNS_LABEL)], NodePool] = {}
    buckets: Buckets = Buckets()
    operators: Operators = Operators()
    observability: Observability = Observability()
    # Model versions that exist without a training job in this stack (pretrained, imported).
    models: list[ModelVersionRef] = []
    training_jobs: dict[Annotated[str, Field(pattern=DNS_LABEL)], TrainingJob] = {}
    notebooks: dict[Annotated[str, Field(pattern=DNS_LABEL)], Notebook] = {}
    servings: dict[Annotated[str, Field(pattern=DNS_LABEL)], Serving] = {}
    web_services: dict[Annotated[str, Field(pattern=DNS_LABEL)], WebService] = {}
    promotion: Promotion | None = None

    @model_validator(mode="after")
    def _cross_references(self) -> StackConfig:
        if self.cluster.kind == "edge" and self.cloud == "aws":
            raise PathError(("cluster", "kind"), "edge clusters (ACK@Edge) exist only on alicloud")
        families = rules.GPU_INSTANCE_PREFIXES[self.cloud]
        for name, pool in self.node_pools.items():
            for index, instance_type in enumerate(pool.instance_types):
                if pool.gpu and not rules.is_gpu_instance_type(instance_type, self.cloud):
                    raise PathError(
                        ("nodePools", name, "instanceTypes", index),
                        f"{instance_type!r} is not a GPU instance type on {self.cloud} (families: {', '.join(families)})",
                    )
            if pool.gpu_sharing == "cgpu" and self.cloud != "alicloud":
                raise PathError(("nodePools", name, "gpuSharing"), "cgpu is ACK's GPU sharing; use timeSlicing on aws")
            if pool.gpu_sharing == "timeSlicing" and self.cloud != "aws":
                raise PathError(("nodePools", name, "gpuSharing"), "timeSlicing is for EKS; use cgpu on alicloud")
        self._check_gpu_requests()
        self._check_dependencies()
        self._check_model_versions()
        return self

    @property
    def gpu_sharing(self) -> str:
        return next((p.gpu_sharing for p in self.node_pools.values() if p.gpu and p.gpu_sharing != "none"), "none")

    @property
    def has_gpu_pool(self) -> bool:
        return any(p.gpu for p in self.node_pools.values())

    def _gpu_requests(self):
        for name, job in self.training_jobs.items():
            for role, replica in job.roles.items():
                yield ("trainingJobs", name, "roles", role, "resources"), replica.resources
        for name, notebook in self.notebooks.items():
            yield ("notebooks", name, "resources"), notebook.resources
        for name, serving in self.servings.items():
            for index, predictor in enumerate(serving.predictors):
                yield ("servings", name, "predictors", index, "resources"), predictor.resources

    def _check_gpu_requests(self) -> None:
        for path, resources in self._gpu_requests():
            if resources.wants_gpu and not self.has_gpu_pool:
                raise PathError(path, "asks for a GPU but no node pool has gpu: true")
            if resources.gpu_memory_gb and self.gpu_sharing != "cgpu":
                raise PathError((*path, "gpuMemoryGb"), "GPU memory slices need a node pool with gpuSharing: cgpu")

    def _check_dependencies(self) -> None:
        kinds = {"trainingJobs": self.training_jobs, "servings": self.servings, "webServices": self.web_services}
        owner: dict[str, str] = {}
        for kind, items in {**kinds, "notebooks": self.notebooks}.items():
            for name in items:
                if name in owner:
                    raise PathError(
                        (kind, name),
                        f"the name {name!r} is taken by {owner[name]}.{name}: dependsOn needs unique names",
                    )
                owner[name] = kind
        graph = {}
        for kind, items in kinds.items():
            for name, item in items.items():
                graph[name] = set(item.depends_on)
                for index, dependency in enumerate(item.depends_on):
                    if owner.get(dependency) not in kinds:
                        raise PathError(
                            (kind, name, "dependsOn", index),
                            f"no training job, serving or web service named {dependency!r}",
                        )
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise PathError(
                (owner[error.args[1][0]], error.args[1][0], "dependsOn"), f"dependency cycle: {cycle}"
            ) from None
        for name, service in self.web_services.items():
            if service.serving and service.serving not in self.servings:
                raise PathError(("webServices", name, "serving"), f"no serving named {service.serving!r}")
        for name, serving in self.servings.items():
            route = serving.route_by_header
            if route and route.serving not in self.servings:
                raise PathError(("servings", name, "routeByHeader", "serving"), f"no serving named {route.serving!r}")
            if route and route.serving == name:
                raise PathError(("servings", name, "routeByHeader", "serving"), "a serving cannot route to itself")
            # Both answer the same URL: same ingress prefix (namespace) and the same request format.
            target = self.servings.get(route.serving) if route else None
            if target and (target.namespace, target.protocol) != (serving.namespace, serving.protocol):
                raise PathError(
                    ("servings", name, "routeByHeader", "serving"),
                    f"{route.serving!r} runs protocol {target.protocol} in namespace {target.namespace}; "
                    f"a header route needs the same protocol and namespace ({serving.protocol}, {serving.namespace})",
                )

    def trained_versions(self) -> dict[str, str]:
        """Model version -> the training job in this stack that writes it."""
        return {job.model: name for name, job in self.training_jobs.items()}

    def known_versions(self) -> set[str]:
        return set(self.models) | set(self.trained_versions())

    def served_versions(self):
        """(config path, model version) of every predictor that serves a model version."""
        for name, serving in self.servings.items():
            for index, predictor in enumerate(serving.predictors):
                if predictor.is_model_version:
                    yield ("servings", name, "predictors", index, "model"), predictor.model

    def _check_model_versions(self) -> None:
        if self.promotion is not None:
            return  # prod's versions are checked against what dev published (stacks.prod)
        known = self.known_versions()
        for path, version in self.served_versions():
            if version not in known:
                raise PathError(path, f"unknown model version {version!r}: not trained here nor listed in models")
