"""The order workloads are created in: what each waits for, checked for unknown names and cycles.

A mixin of `StackConfig` (mlplatform/config/stack.py), which holds the workloads it reads; `stacks/workloads.py`
creates workloads in `dependency_graph` order, and `_check_dependencies` judges the same graph, so a cycle is a
config error with its path, never a crash while planning.
"""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from mlplatform.config.base import PathError


class WorkloadGraph:
    def dependency_graph(self) -> dict[str, set[str]]:
        """Each workload and what must exist before it: its `dependsOn`, the serving a routed serving shares the URL
        of (`routeByHeader`), the serving a web service's SERVING_URL names."""
        graph: dict[str, set[str]] = {}
        for items in (self.training_jobs, self.servings, self.web_services):
            for name, workload in items.items():
                graph[name] = set(workload.depends_on)
        for name, serving in self.servings.items():
            if serving.route_by_header:
                graph[name].add(serving.route_by_header.serving)
        for name, service in self.web_services.items():
            if service.serving:
                graph[name].add(service.serving)
        return graph

    def _check_dependencies(self) -> None:
        kinds = {"trainingJobs": self.training_jobs, "servings": self.servings, "webServices": self.web_services}
        owner: dict[str, str] = {}
        for kind, items in {**kinds, "notebooks": self.notebooks, "experiments": self.experiments}.items():
            for name in items:
                if name in owner:
                    raise PathError(
                        (kind, name),
                        f"the name {name!r} is taken by {owner[name]}.{name}: dependsOn needs unique names",
                    )
                owner[name] = kind
        for kind, items in kinds.items():
            for name, item in items.items():
                for index, dependency in enumerate(item.depends_on):
                    if owner.get(dependency) not in kinds:
                        raise PathError(
                            (kind, name, "dependsOn", index),
                            f"no training job, serving or web service named {dependency!r}",
                        )
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
            if target and target.backend != serving.backend:
                reason = f"{route.serving!r} is served by {target.backend}; a header route stays on one backend"
                raise PathError(("servings", name, "routeByHeader", "serving"), reason)
            if target and (target.namespace, target.protocol) != (serving.namespace, serving.protocol):
                raise PathError(
                    ("servings", name, "routeByHeader", "serving"),
                    f"{route.serving!r} runs protocol {target.protocol} in namespace {target.namespace}; "
                    f"a header route needs the same protocol and namespace ({serving.protocol}, {serving.namespace})",
                )
        try:
            TopologicalSorter(self.dependency_graph()).prepare()
        except CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise PathError(
                (owner[error.args[1][0]], error.args[1][0], "dependsOn"), f"dependency cycle: {cycle}"
            ) from None
