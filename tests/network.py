"""Judge the platform's flows (mlplatform/infra/flows.py) against rendered NetworkPolicies with IBM's
network-config-analyzer (PyPI `network-config-analyzer`, its `permits` and `forbids` queries), not by reading them.

The cluster nca reasons about is synthesized: every namespace the plan renders or installs into (plus those the
cloud creates), with the labels the API server sets, and in each a plain pod plus one pod per labelled flow end,
its container declaring the named ports flows use. A flow becomes the smallest NetworkPolicies that admit only it
(on each team side), and nca answers whether the rendered policies permit (or, for `BLOCKED`, forbid) every
connection those admit.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml
from nca.NetworkConfig.NetworkConfigQueryRunner import NetworkConfigQueryRunner
from nca.NetworkConfig.ResourcesHandler import ResourcesHandler
from nca.Utils.OutputConfiguration import OutputConfiguration

from mlplatform.config import StackConfig
from mlplatform.config.teams import team_namespace
from mlplatform.infra.flows import CLOUD_NAMESPACES, METRICS_PORT_NAME, Flow, Peer

NAME_LABEL = "kubernetes.io/metadata.name"


def _list(kind: str, items: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": f"{kind}List", "items": items}


def plan_namespaces(manifests: Iterable[dict], packages: Iterable[dict], cloud: str) -> dict[str, dict[str, str]]:
    """Every namespace of the plan by name, with its labels: rendered Namespaces, the namespaces releases install
    into, and those the cloud and its add-ons create."""
    namespaces = {name: {} for name in CLOUD_NAMESPACES[cloud]}
    for package in packages:
        if package.get("namespace"):
            namespaces.setdefault(package["namespace"], {})
    for manifest in manifests:
        if manifest.get("kind") == "Namespace":
            metadata = manifest["metadata"]
            namespaces[metadata["name"]] = dict(metadata.get("labels") or {})
    return {name: {**labels, NAME_LABEL: name} for name, labels in namespaces.items()}


def _ends(peer: Peer, teams: Sequence[str], other_kinds: Sequence[str]) -> list[tuple[str, dict]]:
    """(namespace, pod labels) of each place `peer` stands for."""
    if peer.same_namespace:
        return [(team_namespace(team, kind), dict(peer.pods)) for team in teams for kind in other_kinds]
    if peer.kinds:
        return [(team_namespace(team, kind), dict(peer.pods)) for team in teams for kind in peer.kinds]
    if peer.namespace:
        return [(peer.namespace, dict(peer.pods))]
    return []


def synthetic_pods(namespaces: dict[str, dict], flows: Iterable[Flow], teams: Sequence[str]) -> list[dict]:
    """A plain pod in every namespace and a pod for every labelled flow end, each declaring the named ports."""
    places = {(name, ()) for name in namespaces}
    for flow in flows:
        for peer, other in ((flow.source, flow.destination), (flow.destination, flow.source)):
            for namespace, labels in _ends(peer, teams, other.kinds):
                places.add((namespace, tuple(sorted(labels.items()))))
    pods = []
    for index, (namespace, labels) in enumerate(sorted(places)):
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"pod-{index}", "namespace": namespace, "labels": dict(labels) or {"app": "x"}},
                "spec": {
                    "containers": [
                        {"name": "main", "image": "x", "ports": [{"name": METRICS_PORT_NAME, "containerPort": 6000}]}
                    ]
                },
                "status": {"podIP": f"10.255.{index // 250}.{index % 250 + 1}"},
            }
        )
    return pods


def _peer(peer: Peer, namespace: str) -> list[dict]:
    if peer.cidr:
        return [{"ipBlock": {"cidr": peer.cidr, **({"except": list(peer.excluding)} if peer.excluding else {})}}]
    pods = {"podSelector": {"matchLabels": dict(peer.pods)}} if peer.pods else {}
    if peer.same_namespace:
        return [pods or {"podSelector": {}}]
    names = [peer.namespace] if peer.namespace else [namespace]
    return [{"namespaceSelector": {"matchLabels": {NAME_LABEL: name}}, **pods} for name in names]


def _other_end(ours: Peer, other: Peer, teams: Sequence[str], namespace: str) -> list[dict]:
    """The peers of a rule in `namespace` naming `other`, whose team namespaces are those of `teams`."""
    if ours.same_namespace:  # from the pods of the namespace itself
        return [{"podSelector": {"matchLabels": dict(other.pods)} if other.pods else {}}]
    if other.kinds:
        return [
            peer
            for name in teams
            for kind in other.kinds
            for peer in _peer(Peer(namespace=team_namespace(name, kind), pods=other.pods), namespace)
        ]
    return _peer(other, namespace)


def flow_policies(flow: Flow, teams: Sequence[str]) -> list[dict]:
    """The NetworkPolicies that admit exactly `flow`, in each namespace it starts or ends in (team or platform)."""
    ports = [{"protocol": protocol, "port": port} for protocol, port in flow.ports]
    teams = [team for team in teams if flow.applies_to(team)]
    policies = []
    for direction, ours, other, key in (
        ("Egress", flow.source, flow.destination, "to"),
        ("Ingress", flow.destination, flow.source, "from"),
    ):
        if ours.namespace:  # a platform namespace: one policy, naming every team's end
            places = [(ours.namespace, dict(ours.pods), teams)]
        else:  # a team's namespace: naming that team's end
            places = [
                (namespace, labels, [team])
                for team in teams
                for namespace, labels in _ends(ours, [team], flow.source.kinds)
            ]
        for namespace, labels, ends in places:
            rule = {key: _other_end(ours, other, ends, namespace), **({"ports": ports} if ports else {})}
            policies.append(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": f"flow-{direction.lower()}-{len(policies)}", "namespace": namespace},
                    "spec": {
                        "podSelector": {"matchLabels": labels},
                        "policyTypes": [direction],
                        direction.lower(): [rule],
                    },
                }
            )
    return policies


class Judge:
    """nca over one plan: `permits(flow)` / `forbids(flow)` answer None when it holds, else nca's explanation."""

    def __init__(self, settings: StackConfig, manifests: list[dict], packages: list[dict], flows: Sequence[Flow]):
        self.teams = list(settings.all_teams)
        self.folder = Path(tempfile.mkdtemp(prefix="nca-"))
        self.namespaces = plan_namespaces(manifests, packages, settings.cloud)
        policies = [m for m in manifests if m.get("kind") == "NetworkPolicy"]
        namespace_items = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
            for name, labels in self.namespaces.items()
        ]
        self._write("namespaces.yaml", _list("Namespace", namespace_items))
        self._write("pods.yaml", _list("Pod", synthetic_pods(self.namespaces, flows, self.teams)))
        self._write("rendered.yaml", _list("NetworkPolicy", policies))
        self.handler = ResourcesHandler()
        with _quiet():
            self.handler.set_global_peer_container(
                [str(self.folder / "namespaces.yaml")], [str(self.folder / "pods.yaml")], None
            )
        self.configs = {"rendered": self._config("rendered")}

    def _write(self, name: str, document: dict) -> None:
        (self.folder / name).write_text(yaml.safe_dump(document, sort_keys=False))

    def _config(self, name: str):
        with _quiet():
            return self.handler.get_network_config([str(self.folder / f"{name}.yaml")], None, None, None, name)

    def _query(self, query: str, flow: Flow) -> str | None:
        name = f"flow-{len(self.configs)}"
        self._write(f"{name}.yaml", _list("NetworkPolicy", flow_policies(flow, self.teams)))
        self.configs[name] = self._config(name)
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            result, _, not_executed = NetworkConfigQueryRunner(
                query, ["rendered", name], None, OutputConfiguration({}, query), self.configs
            ).run_query()
        if result or not_executed:
            return output.getvalue().strip() or f"{query} not executed"
        return None

    def permits(self, flow: Flow) -> str | None:
        return self._query("permits", flow)

    def forbids(self, flow: Flow) -> str | None:
        return self._query("forbids", flow)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield
