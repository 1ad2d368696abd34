"""Config of teams: who may work in which namespaces, with what quota, defaults, pod security and network.

A team owns one namespace per workload kind (`WorkloadNamespace`: training, models, notebooks). The default
team keeps today's names (`training`, `models`, `notebooks`) so existing URNs and endpoints stay; a named team
`vision` gets `vision-training`, `vision-models` and `vision-notebooks`.

Kubernetes quotas are namespaced (a ResourceQuota counts the pods of its own namespace only), so a team's
`quota` is set on each of its namespaces and `quotas.<namespace>` overrides it for one; the config check adds
up what the workloads of one namespace ask for (at their most replicas) against that namespace's quota,
exactly what the quota admission controller will enforce.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from mlplatform.config.base import DNS_LABEL, Cpu, Model, PathError, Size, WorkloadNamespace
from mlplatform.config.infra import check_mig_profile, mig_resource
from mlplatform.config.workloads import Resources

__all__ = [
    "DEFAULT_TEAM",
    "TEAM_NAMESPACES",
    "ContainerDefaults",
    "EgressRule",
    "Quota",
    "Team",
    "TeamNetwork",
    "check_teams",
    "cores",
    "team_namespace",
]

DEFAULT_TEAM = "default"
TEAM_NAMESPACES: tuple[str, ...] = get_args(WorkloadNamespace)
# Pod Security Admission levels (kubernetes.io/docs/concepts/security/pod-security-admission).
PodSecurityLevel = Literal["restricted", "baseline"]
# Why a namespace kind is not `restricted` by default (docs/cloud-rules.md, "Teams"): training images
# (official TensorFlow/PyTorch images, MPI launchers over ssh) run as root, and the operators inject
# containers into serving pods (Seldon's executor, the storage initializers) whose securityContext we do not
# render; `warn` and `audit` stay `restricted` everywhere, so what a namespace would break shows up first.
DEFAULT_POD_SECURITY: dict[str, PodSecurityLevel] = {
    "training": "baseline",
    "models": "baseline",
    "notebooks": "restricted",
}


def cores(cpu: str) -> float:
    """A CPU quantity ('2', '0.5', '500m') in cores."""
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def _gibibytes(quantity: str) -> float:
    from mlplatform.config.stack import gibibytes  # stack.py imports this module

    return gibibytes(quantity)


def team_namespace(team: str, kind: str) -> str:
    """The namespace of `kind` (training, models, notebooks) of `team`: the default team keeps the bare names."""
    return kind if team == DEFAULT_TEAM else f"{team}-{kind}"


class Quota(Model):
    """A ResourceQuota's `spec.hard`: what all pods of one namespace may request together. Unset: no limit."""

    cpu: Cpu | None = None
    """`requests.cpu`: cores (`64`) or millicores the pods of the namespace request together."""
    memory: Size | None = None
    """`requests.memory`: memory the pods of the namespace request together, e.g. 256Gi."""
    cpu_limit: Cpu | None = None
    """`limits.cpu`: the sum of the CPU limits (every container then needs a limit: LimitRange defaults give one)."""
    memory_limit: Size | None = None
    """`limits.memory`: the sum of the memory limits."""
    gpus: int | None = Field(default=None, ge=0)
    """`requests.nvidia.com/gpu`: whole GPUs (0 forbids them); needs a node pool with whole GPUs."""
    gpu_memory_gb: int | None = Field(default=None, ge=0)
    """`requests.aliyun.com/gpu-mem`: GiB of shared GPU memory (ACK cGPU); needs a pool with `gpuSharing: cgpu`."""
    mig: dict[str, Annotated[int, Field(ge=0)]] = {}
    """Per MIG profile (`1g.10gb`): `requests.nvidia.com/mig-<profile>`, how many MIG instances of it (EKS); each
    needs a pool with `gpuSharing: mig` and that `migProfile`."""
    pods: int | None = Field(default=None, ge=1)
    """`pods`: how many pods (not finished) the namespace may hold."""

    @field_validator("mig")
    @classmethod
    def _mig_profiles(cls, values: dict[str, int]) -> dict[str, int]:
        for profile in values:
            check_mig_profile(profile)
        return values

    def hard(self) -> dict[str, str]:
        """The ResourceQuota `spec.hard` (quantities as text, as Kubernetes prints them)."""
        entries = {
            "requests.cpu": self.cpu,
            "requests.memory": self.memory,
            "limits.cpu": self.cpu_limit,
            "limits.memory": self.memory_limit,
            "requests.nvidia.com/gpu": self.gpus,
            "requests.aliyun.com/gpu-mem": self.gpu_memory_gb,
            **{f"requests.{mig_resource(profile)}": count for profile, count in sorted(self.mig.items())},
            "pods": self.pods,
        }
        return {key: str(value) for key, value in entries.items() if value is not None}


# A team without a `quota`: room for the shipped demo workloads and more, GPUs unlimited (the pools cap them).
IMPLICIT_QUOTA = Quota(cpu="256", memory="1Ti", pods=500)


class ContainerDefaults(Model):
    """The LimitRange of each namespace: requests and limits of containers that give none (operators' sidecars)."""

    cpu: Cpu = "100m"
    """Default CPU request (`defaultRequest.cpu`)."""
    memory: Size = "256Mi"
    """Default memory request (`defaultRequest.memory`)."""
    cpu_limit: Cpu = "2"
    """Default CPU limit (`default.cpu`); at least the default request."""
    memory_limit: Size = "4Gi"
    """Default memory limit (`default.memory`); at least the default request."""


class EgressRule(Model):
    """Traffic the team's pods may send beyond DNS, the buckets (HTTPS) and their own namespace."""

    cidr: str
    """Destination network, e.g. 10.30.0.0/16 (a database subnet)."""
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = []
    """TCP ports; empty: every port."""

    @field_validator("cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValueError(f"{value!r} is not a network in CIDR notation (e.g. 10.30.0.0/16)") from None
        return value


class TeamNetwork(Model):
    """What the team's NetworkPolicies allow beyond the platform's defaults (DNS, gateways, operators, HTTPS)."""

    allow_from_namespaces: list[Annotated[str, Field(pattern=DNS_LABEL)]] = []
    """Other namespaces whose pods may reach this team's pods (e.g. another team's web service)."""
    egress: list[EgressRule] = []
    """More destinations the team's pods may reach."""


class Team(Model):
    """A team: its namespaces (one per workload kind), who may work in them, and what they may use."""

    groups: list[str] = []
    """Cluster identities bound to the team (edit rights in its namespaces). alicloud: `ram-user:<RAM user ID>` or
    `ram-role:<RAM role ID>` (granted through ACK's own RBAC authorization); aws: IAM user or role ARNs (an EKS
    access entry each, in the team's Kubernetes group)."""
    quota: Quota = IMPLICIT_QUOTA
    """The ResourceQuota of each of the team's namespaces (Kubernetes quotas are per namespace)."""
    quotas: dict[WorkloadNamespace, Quota] = {}
    """Per namespace kind (training, models, notebooks): a quota replacing `quota` there."""
    defaults: ContainerDefaults = ContainerDefaults()
    """The LimitRange defaults of the team's namespaces."""
    pod_security: dict[WorkloadNamespace, PodSecurityLevel] = {}
    """Pod Security Admission `enforce` level per namespace kind; by default restricted for notebooks, baseline for
    training (images run as root) and models (operator-injected containers); warn/audit are always restricted."""
    network: TeamNetwork = TeamNetwork()
    """Network allowances beyond the defaults."""

    @model_validator(mode="after")
    def _defaults_fit(self) -> Team:
        if cores(self.defaults.cpu) > cores(self.defaults.cpu_limit):
            raise PathError(("defaults", "cpu"), f"above the default limit cpuLimit {self.defaults.cpu_limit}")
        if _gibibytes(self.defaults.memory) > _gibibytes(self.defaults.memory_limit):
            raise PathError(("defaults", "memory"), f"above the default limit memoryLimit {self.defaults.memory_limit}")
        return self

    def quota_of(self, kind: str) -> Quota:
        return self.quotas.get(kind, self.quota)  # type: ignore[call-overload]

    def pod_security_of(self, kind: str) -> PodSecurityLevel:
        return self.pod_security.get(kind, DEFAULT_POD_SECURITY[kind])  # type: ignore[call-overload]


# ---------------------------------------------------------------- checks (StackConfig._check_teams)


def check_teams(settings) -> None:
    """The cross-references of teams: members, GPU quotas, allowances, workloads' teams, header routes, quotas."""
    for name, team in settings.teams.items():
        _check_team_groups(settings, name, team)
        for kind in (None, *team.quotas):
            quota = team.quota if kind is None else team.quotas[kind]
            path = ("teams", name, "quota") if kind is None else ("teams", name, "quotas", kind)
            _check_gpu_quota(settings, path, quota)
        own = {team_namespace(name, kind) for kind in TEAM_NAMESPACES}
        for index, source in enumerate(team.network.allow_from_namespaces):
            if source in own:
                raise PathError(
                    ("teams", name, "network", "allowFromNamespaces", index),
                    f"{source!r} is this team's own namespace: pods of a namespace reach each other already",
                )
    for kind, name, workload in settings.workloads():
        if workload.team is not None and workload.team not in settings.all_teams:
            known = ", ".join(sorted(settings.all_teams))
            raise PathError((kind, name, "team"), f"no team named {workload.team!r} (teams: {known})")
    for name, serving in settings.servings.items():
        target = settings.servings.get(serving.route_by_header.serving) if serving.route_by_header else None
        if target and (target.team or DEFAULT_TEAM) != (serving.team or DEFAULT_TEAM):
            raise PathError(
                ("servings", name, "team"),
                f"a header route answers at {serving.route_by_header.serving!r}'s URL, in its namespace: "
                f"both servings belong to one team ({target.team or DEFAULT_TEAM})",
            )
    _check_quotas(settings)


def _check_team_groups(settings, name: str, team: Team) -> None:
    """ACK grants RBAC to RAM users and roles by ID; EKS access entries take IAM principal ARNs, one entry each."""
    earlier = list(settings.teams)[: list(settings.teams).index(name)]
    owners = {member: other for other in earlier for member in settings.teams[other].groups}
    for index, member in enumerate(team.groups):
        path = ("teams", name, "groups", index)
        if settings.cloud == "alicloud" and not re.fullmatch(r"ram-(user|role):[0-9]+", member):
            raise PathError(
                path,
                f"{member!r}: on alicloud give `ram-user:<RAM user ID>` or `ram-role:<RAM role ID>` (numeric IDs)",
            )
        if settings.cloud == "aws" and not re.fullmatch(
            r"arn:aws[a-z-]*:iam::[0-9]{12}:(user|role)/[\w+=,.@/-]+", member
        ):
            raise PathError(
                path, f"{member!r}: on aws give an IAM user or role ARN (arn:aws:iam::<account>:role/<name>)"
            )
        if member in team.groups[:index]:
            raise PathError(path, f"{member!r} is listed twice")
        if member in owners:
            raise PathError(
                path,
                f"{member!r} already belongs to team {owners[member]!r}: one identity, one team "
                "(an EKS access entry and an ACK permission grant each hold all of an identity's rights)",
            )


def _check_gpu_quota(settings, path: tuple, quota) -> None:
    whole = any(p.gpu and p.gpu_sharing not in ("cgpu", "mig") for p in settings.node_pools.values())
    if quota.gpus and not whole:
        raise PathError(
            (*path, "gpus"),
            "a quota of whole GPUs (requests.nvidia.com/gpu) needs a node pool with gpu: true that does not "
            "share GPUs with cgpu or mig",
        )
    for profile in quota.mig:
        if profile not in settings.mig_profiles():
            raise PathError(
                (*path, "mig", profile),
                f"a quota of {mig_resource(profile)} needs a node pool with gpuSharing: mig and migProfile: {profile}",
            )
    if quota.gpu_memory_gb and settings.gpu_sharing != "cgpu":
        raise PathError(
            (*path, "gpuMemoryGb"),
            "a quota of GPU memory (requests.aliyun.com/gpu-mem) needs a node pool with gpuSharing: cgpu (ACK)",
        )


# The requests and limits Katib v0.19.0 gives the suggestion and metrics collector containers the katib-config sets
# none for (pkg/apis/config/v1beta1/defaults.go: DefaultCPURequest 50m, DefaultMemRequest 10Mi, DefaultCPULimit 500m,
# DefaultMemLimit 100Mi).
KATIB_CONTAINER = Resources(cpu="50m", memory="10Mi", cpu_limit="500m", memory_limit="100Mi")


def _demands(settings):
    """(config path, team, namespace kind, per-resource totals) of every workload at its most replicas."""

    def pods(resources, replicas: int) -> dict[str, float]:
        return {
            "cpu": cores(resources.cpu) * replicas,
            "memory": _gibibytes(resources.memory) * replicas,
            "cpuLimit": cores(resources.cpu_limit or resources.cpu) * replicas,
            "memoryLimit": _gibibytes(resources.memory_limit or resources.memory) * replicas,
            "gpus": 0 if resources.mig_profile else resources.gpu * replicas,
            "gpuMemoryGb": resources.gpu_memory_gb * replicas,
            **({f"mig.{resources.mig_profile}": resources.gpu * replicas} if resources.mig_profile else {}),
            "pods": replicas,
        }

    for kind, name, workload in settings.workloads():
        parts: list[dict[str, float]] = []
        if kind == "trainingJobs":
            parts = [pods(r.resources, r.replicas) for r in workload.roles.values()]
        elif kind == "experiments":  # its parallel trials, each a whole training job, run at once
            trial = workload.trial.roles.values()
            parts = [pods(r.resources, r.replicas * workload.parallel_trials) for r in trial]
            # Katib's own pods in the namespace: the experiment's suggestion service, and a metrics collector
            # sidecar in each running trial's primary pod (no pod of its own).
            parts += [pods(KATIB_CONTAINER, 1), {**pods(KATIB_CONTAINER, workload.parallel_trials), "pods": 0}]
        elif kind == "notebooks":
            parts = [pods(workload.resources, 1)]
        elif kind == "webServices":
            parts = [pods(workload.resources, workload.replicas)]
        elif workload.llm:
            parts = [pods(workload.llm.resources, workload.llm.scaling.max_replicas)]
        else:
            parts = [
                pods(p.resources, p.autoscaling.max_replicas if p.autoscaling else p.replicas)
                for p in workload.predictors
            ]
        total = {key: sum(part.get(key, 0) for part in parts) for part in parts for key in part}
        yield (kind, name), workload.team or DEFAULT_TEAM, settings.namespace_kind(kind, workload), total


def _check_quotas(settings) -> None:
    """What the quota admission controller would refuse: a namespace's workloads (at their most replicas)
    asking for more than the namespace's ResourceQuota."""
    quota_keys = {
        "cpu": ("cpu", cores, "CPUs"),
        "memory": ("memory", _gibibytes, "GiB of memory"),
        "cpuLimit": ("cpu_limit", cores, "CPUs of limits"),
        "memoryLimit": ("memory_limit", _gibibytes, "GiB of memory limits"),
        "gpus": ("gpus", float, "GPUs"),
        "gpuMemoryGb": ("gpu_memory_gb", float, "GiB of GPU memory"),
        "pods": ("pods", float, "pods"),
    }
    used: dict[tuple[str, str], dict[str, float]] = {}
    for path, team_name, kind, demand in _demands(settings):
        team = settings.all_teams[team_name]
        quota = team.quota_of(kind)
        sums = used.setdefault((team_name, kind), {})
        for key, amount in demand.items():
            sums[key] = sums.get(key, 0) + amount
            if key.startswith("mig."):  # a MIG profile: `quota.mig.<profile>`, unlimited where not listed
                profile = key.removeprefix("mig.")
                limit, parse, unit, field = quota.mig.get(profile), float, f"{profile} MIG instances", key
            else:
                attribute, parse, unit = quota_keys[key]
                limit, field = getattr(quota, attribute), _camel(attribute)
            if limit is None or sums[key] <= parse(limit) + 1e-9:
                continue
            where = "quotas." + kind if kind in team.quotas else "quota"
            raise PathError(
                path,
                f"with the other workloads of namespace {team_namespace(team_name, kind)} (team {team_name}) "
                f"it asks for {sums[key]:g} {unit} at its most replicas, over the quota of {parse(limit):g}: "
                f"raise teams.{team_name}.{where}.{field} or ask for less",
            )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
