"""The whole `ml-platform:` namespace of a stack file, and the rules that span its parts."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, model_validator

from mlplatform import catalog, rules
from mlplatform.config.base import DNS_LABEL, Model, ModelVersionRef, PathError
from mlplatform.config.cost import Budget, CostAssumptions
from mlplatform.config.experiments import Experiment, check_experiments
from mlplatform.config.graph import WorkloadGraph
from mlplatform.config.infra import Buckets, Cluster, NodePool, Observability, Operators, check_mig_pool
from mlplatform.config.teams import DEFAULT_TEAM, TEAM_NAMESPACES, Team, check_teams, team_namespace
from mlplatform.config.workloads import Notebook, NotebookSso, Promotion, Serving, TrainingJob, WebService

MIN_ALICLOUD_DISK_GIB = 20
# ACK Serverless runs a GPU pod as an elastic container instance of the GPU instance types its
# `k8s.aliyun.com/eci-use-specs` annotation lists (ACK Serverless user guide, "Specify the compute specification when
# creating an elastic container instance-based pod", Example 1: `ecs.gn6i-c4g1.xlarge,ecs.gn6i-c8g1.2xlarge` beside
# `nvidia.com/gpu` limits; alibabacloud.com/help/en/ack/serverless-kubernetes/user-guide/create-an-eci-pod). The
# platform renders no such annotation: GPU workloads run on GPU node pools of a managed cluster.
SERVERLESS_GPU = (
    "GPUs on a serverless cluster (ACK Serverless) are elastic container instances whose GPU instance type each pod "
    "names in its k8s.aliyun.com/eci-use-specs annotation, which the platform does not render: run GPU workloads on "
    "a managed cluster with a node pool of gpu: true"
)
# The validation context key under which `StackConfig` collects its cross-check problems instead of failing.
CROSS_CHECKS = "mlplatform.cross-checks"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 1e-3}


def gibibytes(quantity: str) -> float:
    """A Kubernetes quantity ('20Gi', '21474836480', '30G') in GiB."""
    number = quantity.rstrip("".join(set("".join(UNITS))))
    return float(number) * UNITS.get(quantity[len(number) :], 1) / 2**30


class StackConfig(WorkloadGraph, Model):
    environment: Literal["dev", "prod"] | None = None
    """The stack's role: dev (disposable, trains, serves candidates) or prod (protected, serves what dev
    published). Required for stacks not named dev or prod, e.g. prod-aws."""
    cloud: Literal["alicloud", "aws"]
    """The cloud: alicloud (ACK, ASK, ACK@Edge) or aws (EKS)."""
    region: str | None = None
    """The cloud region. Set once, as the provider's `alicloud:region` / `aws:region`; this key may only repeat it."""
    cluster: Cluster
    """The Kubernetes cluster and its network."""
    node_pools: dict[Annotated[str, Field(pattern=DNS_LABEL)], NodePool] = {}
    """Node pools by name (a DNS label), e.g. system and gpu."""
    buckets: Buckets = Buckets()
    """The datasets and models buckets."""
    operators: Operators = Operators()
    """Versions and settings of the operators the platform installs."""
    observability: Observability = Observability()
    """Metrics and logs."""
    models: list[ModelVersionRef] = []
    """Model versions that exist without a training job in this stack (pretrained, imported)."""
    training_jobs: dict[Annotated[str, Field(pattern=DNS_LABEL)], TrainingJob] = {}
    """Distributed training jobs by name (a DNS label)."""
    experiments: dict[Annotated[str, Field(pattern=DNS_LABEL, max_length=40)], Experiment] = {}
    """Katib tuning experiments by name (a DNS label of at most 40 characters): trials that are training jobs."""
    notebooks: dict[Annotated[str, Field(pattern=DNS_LABEL)], Notebook] = {}
    """Jupyter notebooks by name (a DNS label), per user or team."""
    notebook_sso: NotebookSso | None = None
    """Single sign-on for notebooks (an OIDC proxy in front of each); required by the `notebook-sso` policy in prod."""
    servings: dict[Annotated[str, Field(pattern=DNS_LABEL)], Serving] = {}
    """Model servings by name (a DNS label): one Seldon deployment each."""
    web_services: dict[Annotated[str, Field(pattern=DNS_LABEL)], WebService] = {}
    """Web services by name (a DNS label), e.g. a test client of a serving."""
    teams: dict[Annotated[str, Field(pattern=DNS_LABEL, max_length=53)], Team] = {}
    """Teams by name: each owns a namespace per workload kind (the `default` team `training`, `models`, `notebooks`;
    team `vision` `vision-training`, ...), with quotas, RBAC, pod security and network policies. Workloads without
    `team` belong to `default`, which exists even when not listed (with a generous quota)."""
    promotion: Promotion | None = None
    """prod: the stack whose published model versions it serves (a StackReference)."""
    budget: Budget | None = None
    """The most this stack may cost a month (`monthlyMax`, in USD): the `budget` policy fails a plan whose
    estimated maximum is higher (mandatory in prod, advisory in dev). Per team once teams exist (issue #12)."""
    cost_assumptions: CostAssumptions = CostAssumptions()
    """What the cost estimate assumes where the plan cannot say: bucket sizes, log volume, training hours."""

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> StackConfig:
        """The rules that span parts of the config, each judged on its own: with a list under `CROSS_CHECKS` in the
        validation context every problem found goes there (`loading.read` reports them all); else the first one
        fails the validation."""
        found = self._cross_check_problems()
        sink = info.context.get(CROSS_CHECKS) if isinstance(info.context, dict) else None
        if sink is not None:
            sink.extend(found)
        elif found:
            raise found[0]
        return self

    def _cross_check_problems(self) -> list[PathError]:
        """The first problem of each independent cross-check: the cluster, each node pool, the GPU requests, ..."""
        checks = [
            self._check_cluster,
            self._check_serverless_pools,
            *(functools.partial(self._check_pool, name, pool) for name, pool in self.node_pools.items()),
            self._check_gpu_requests,
            self._check_disks,
            self._check_notebook_sso,
            self._check_dependencies,
            self._check_model_versions,
            self._check_teams,
            self._check_deploy_runners,
            functools.partial(check_experiments, self),
        ]
        problems = []
        for check in checks:
            try:
                check()
            except PathError as problem:
                problems.append(problem)
        return problems

    def _check_deploy_runners(self) -> None:
        """A private EKS API admits only the sources its cluster security group allows (EKS user guide, "Cluster
        API server endpoint"): name the runners. ACK's private API is an internal CLB no security group guards."""
        runners = self.cluster.network.deploy_runners
        named = bool(runners.cidrs or runners.security_group_ids)
        path = ("cluster", "network", "deployRunners")
        if self.cloud == "aws" and not self.cluster.public_endpoint and not named:
            raise PathError(
                path,
                "the EKS API is private (publicEndpoint: false): name the runners that deploy the stack "
                "(cidrs or securityGroupIds) so the cluster security group admits them on 443",
            )
        if self.cloud != "aws" and named:
            raise PathError(
                path,
                "runner sources are admitted on EKS only: ACK's private API is an internal CLB in the VPC that "
                "every address in the VPC reaches (restrict it with the CLB listener's access control)",
            )

    def _check_cluster(self) -> None:
        """What each cloud's cluster API accepts: its versions, its kinds, its login and endpoint rules."""
        cluster = self.cluster
        if cluster.kind == "edge" and self.cloud == "aws":
            raise PathError(("cluster", "kind"), "edge clusters (ACK@Edge) exist only on alicloud")
        if cluster.kind == "serverless" and self.cloud == "aws":
            raise PathError(
                ("cluster", "kind"),
                "EKS has no serverless kind here: Fargate cannot run the operators, notebooks or the S3 CSI driver; "
                "use managed (a small system node group, with pools that Karpenter scales from zero)",
            )
        problem = catalog.version_problem(self.cloud, cluster.kubernetes_version)
        if problem:
            raise PathError(("cluster", "kubernetesVersion"), problem)
        workloads = {"trainingJobs": self.training_jobs, "experiments": self.experiments, "notebooks": self.notebooks}
        bucket_kinds = [
            kind for kind, items in {**workloads, "servings": list(self.served_versions())}.items() if items
        ]
        if cluster.kind == "edge" and bucket_kinds:
            kind = bucket_kinds[0]
            raise PathError(
                (kind,),
                "ACK@Edge clusters have no RRSA (EdgeKubernetes in pulumi-alicloud 4.0.0), and the platform mounts "
                "buckets only through workload identity, never keys: run bucket workloads on a managed cluster",
            )
        if cluster.kind == "edge" and not cluster.edge_key_pair:
            raise PathError(("cluster", "edgeKeyPair"), "an ACK@Edge cluster needs a login: name an ECS key pair")
        if cluster.public_endpoint and self.cloud == "aws" and not cluster.api_access_cidrs:
            raise PathError(("cluster", "apiAccessCidrs"), "a public EKS endpoint needs the CIDRs allowed to reach it")
        if cluster.api_access_cidrs and self.cloud != "aws":
            raise PathError(("cluster", "apiAccessCidrs"), "CIDR-restricted API endpoints are set up for EKS only")
        if cluster.admins and self.cloud != "aws":
            raise PathError(("cluster", "admins"), "cluster admins are EKS access entries: on alicloud use RAM and ACK")
        members = {member: name for name, team in self.teams.items() for member in team.groups}
        for index, admin in enumerate(cluster.admins):
            if admin in members:
                raise PathError(
                    ("cluster", "admins", index),
                    f"{admin!r} is also a member of team {members[admin]!r}: EKS keeps one access entry per "
                    "principal (an admin needs no team)",
                )
        for index, zone in enumerate(cluster.network.zones):
            if self.cloud == "aws" and not zone.public_cidr:
                raise PathError(
                    ("cluster", "network", "zones", index, "publicCidr"),
                    "a new AWS VPC needs a public subnet per zone for load balancers and NAT (nodes stay private)",
                )
            if self.cloud != "aws" and zone.public_cidr:
                raise PathError(("cluster", "network", "zones", index, "publicCidr"), "public subnets are for AWS VPCs")

    def _check_serverless_pools(self) -> None:
        """ACK Serverless (ASK) has no nodes of its own: every pod runs as an elastic container instance (ECI) on
        virtual nodes (ACK Serverless user guide, "Specify the compute specification when creating an elastic
        container instance-based pod", alibabacloud.com/help/en/ack/serverless-kubernetes/user-guide/create-an-eci-pod),
        and an ACK node pool (`cs.NodePool`) belongs to an ACK cluster, not an ASK one."""
        if self.cluster.kind == "serverless" and self.node_pools:
            raise PathError(
                ("nodePools",),
                "a serverless cluster (ACK Serverless) has no node pools: every pod runs as an elastic container "
                "instance on virtual nodes; remove nodePools, or use cluster.kind: managed for pools of your own",
            )

    def _check_pool(self, name: str, pool: NodePool) -> None:
        path = ("nodePools", name)
        families = rules.GPU_INSTANCE_PREFIXES[self.cloud]
        for index, instance_type in enumerate(pool.instance_types):
            if not rules.is_instance_type_of(instance_type, self.cloud):
                raise PathError(
                    (*path, "instanceTypes", index),
                    f"{instance_type!r} is not an instance type on {self.cloud} "
                    f"({'ECS types start with ecs.' if self.cloud == 'alicloud' else 'EC2 types look like m6i.large'})",
                )
            if pool.gpu and not rules.is_gpu_instance_type(instance_type, self.cloud):
                raise PathError(
                    (*path, "instanceTypes", index),
                    f"{instance_type!r} is not a GPU instance type on {self.cloud} (families: {', '.join(families)})",
                )
        if pool.gpu_sharing == "cgpu" and (self.cloud != "alicloud" or self.cluster.kind != "managed"):
            raise PathError(
                (*path, "gpuSharing"),
                "cgpu (ACK shared GPU scheduling) needs a managed ACK Pro cluster; use timeSlicing on aws",
            )
        if pool.gpu_sharing == "timeSlicing" and self.cloud != "aws":
            raise PathError((*path, "gpuSharing"), "timeSlicing is for EKS; use cgpu on alicloud")
        if pool.gpu_sharing == "mig":
            check_mig_pool(self.cloud, path, pool)
        if self.cloud == "aws" and pool.min_size > 0:
            raise PathError(
                (*path, "minSize"),
                "EKS pools are Karpenter NodePools, which start nodes for pending pods and keep no minimum: use 0",
            )

    def mig_profiles(self) -> set[str]:
        """The MIG profiles the node pools offer (`nvidia.com/mig-<profile>`)."""
        return {p.mig_profile for p in self.node_pools.values() if p.gpu_sharing == "mig" and p.mig_profile}

    def _check_disks(self) -> None:
        """Alibaba Cloud ESSD (PL1) disks start at 20 GiB: a smaller claim never binds."""
        if self.cloud != "alicloud":
            return
        for name, notebook in self.notebooks.items():
            if gibibytes(notebook.volume_size) < MIN_ALICLOUD_DISK_GIB:
                raise PathError(
                    ("notebooks", name, "volumeSize"),
                    f"{notebook.volume_size} is below the smallest Alibaba Cloud disk (ESSD PL1): use 20Gi or more",
                )

    def _check_notebook_sso(self) -> None:
        """Behind SSO each notebook names who may open it; without SSO such lists would guard nothing."""
        for name, notebook in self.notebooks.items():
            named = notebook.allowed_emails or notebook.allowed_groups
            if self.notebook_sso and not named:
                raise PathError(
                    ("notebooks", name, "allowedEmails"),
                    "behind notebookSso a notebook names its users (allowedEmails) or groups (allowedGroups)",
                )
            if not self.notebook_sso and named:
                field = "allowedEmails" if notebook.allowed_emails else "allowedGroups"
                raise PathError(("notebooks", name, field), "takes effect only with notebookSso: configure it")
        self._check_sso_certificate()

    def _check_sso_certificate(self) -> None:
        """An exposed proxy's session cookies are `Secure` (oauth2-proxy's default, and its OAuth redirect is then
        https: `getOAuthRedirectURI`), which browsers send back only over HTTPS: its load balancer terminates TLS
        with a certificate the cloud keeps (`workloads/addresses.py`). The port-forward URL needs none: browsers
        treat http://localhost as secure."""
        sso = self.notebook_sso
        exposed = [name for name, notebook in self.notebooks.items() if notebook.expose]
        if not sso or not exposed:
            return
        path = ("notebookSso", "tlsCertificate")
        if sso.tls_certificate is None:
            what = "an ACM certificate ARN" if self.cloud == "aws" else "a certificate id of the certificate service"
            raise PathError(
                path,
                f"notebook {exposed[0]!r} is exposed through its SSO proxy, whose session cookies are Secure and "
                f"reach it only over HTTPS: name the certificate its load balancer serves HTTPS with ({what})",
            )
        if self.cloud == "aws" and not re.match(r"^arn:aws[-a-z]*:(acm|iam):", sso.tls_certificate):
            raise PathError(path, "on EKS the load balancer takes an ACM (or IAM) certificate ARN, arn:aws:acm:...")
        if self.cloud == "alicloud" and sso.tls_certificate.startswith("arn:"):
            raise PathError(path, "on ACK the load balancer takes a certificate id (cert-id), not an ARN")

    @property
    def gpu_sharing(self) -> str:
        return next((p.gpu_sharing for p in self.node_pools.values() if p.gpu and p.gpu_sharing != "none"), "none")

    @property
    def has_gpu_pool(self) -> bool:
        return any(p.gpu for p in self.node_pools.values())

    @property
    def scales_llms(self) -> bool:
        """An LLM serving's replicas vary (down to zero, or up past its minimum): KEDA and its Prometheus run."""
        return any(
            serving.llm and serving.llm.scaling.min_replicas < serving.llm.scaling.max_replicas
            for serving in self.servings.values()
        )

    def _gpu_requests(self):
        for name, job in self.training_jobs.items():
            for role, replica in job.roles.items():
                yield ("trainingJobs", name, "roles", role, "resources"), replica.resources
        for name, experiment in self.experiments.items():
            for role, replica in experiment.trial.roles.items():
                yield ("experiments", name, "trial", "roles", role, "resources"), replica.resources
        for name, notebook in self.notebooks.items():
            yield ("notebooks", name, "resources"), notebook.resources
        for name, serving in self.servings.items():
            for index, predictor in enumerate(serving.predictors):
                yield ("servings", name, "predictors", index, "resources"), predictor.resources
            if serving.llm:
                yield ("servings", name, "llm"), serving.llm.resources

    def _check_gpu_requests(self) -> None:
        for path, resources in self._gpu_requests():
            if resources.wants_gpu and self.cluster.kind == "serverless":
                raise PathError((*path, "gpu" if resources.gpu else "gpuMemoryGb"), SERVERLESS_GPU)
            if resources.wants_gpu and not self.has_gpu_pool:
                raise PathError(path, "asks for a GPU but no node pool has gpu: true")
            if resources.gpu_memory_gb and self.gpu_sharing != "cgpu":
                raise PathError((*path, "gpuMemoryGb"), "GPU memory slices need a node pool with gpuSharing: cgpu")
            if resources.mig_profile:
                if resources.mig_profile not in self.mig_profiles():
                    offered = ", ".join(sorted(self.mig_profiles())) or "none"
                    raise PathError(
                        (*path, "migProfile"),
                        f"no node pool with gpuSharing: mig splits its GPUs into {resources.mig_profile} "
                        f"(profiles the pools offer: {offered})",
                    )
                continue
            whole_gpu_pools = [p for p in self.node_pools.values() if p.gpu and p.gpu_sharing not in ("cgpu", "mig")]
            if resources.gpu and not whole_gpu_pools:
                raise PathError(
                    (*path, "gpu"),
                    "the GPU pools share their GPUs (cgpu offers aliyun.com/gpu-mem, mig nvidia.com/mig-<profile>), "
                    "none offers whole GPUs (nvidia.com/gpu): ask for gpuMemoryGb or a migProfile",
                )

    def trained_versions(self) -> dict[str, str]:
        """Model version -> the training job in this stack that writes it."""
        return {job.model: name for name, job in self.training_jobs.items()}

    def known_versions(self) -> set[str]:
        return set(self.models) | set(self.trained_versions())

    def served_versions(self):
        """(config path, model version) of every predictor (and LLM) that serves a model version."""
        for name, serving in self.servings.items():
            for path, version in serving.served_versions():
                yield ("servings", name, *path), version

    def _check_model_versions(self) -> None:
        if self.promotion is not None:
            return  # prod's versions are checked against what dev published (stacks.prod)
        known = self.known_versions()
        for path, version in self.served_versions():
            if version not in known:
                raise PathError(path, f"unknown model version {version!r}: not trained here nor listed in models")

    # ------------------------------------------------------------ teams

    @property
    def all_teams(self) -> dict[str, Team]:
        """Every team, the default one included (implicit when `teams` does not list it), default first."""
        return {DEFAULT_TEAM: self.teams.get(DEFAULT_TEAM, Team()), **self.teams}

    def workloads(self):
        """(config kind, name, workload) of every workload: trainingJobs, experiments, notebooks, servings, ..."""
        for kind, items in (
            ("trainingJobs", self.training_jobs),
            ("experiments", self.experiments),
            ("notebooks", self.notebooks),
            ("servings", self.servings),
            ("webServices", self.web_services),
        ):
            for name, workload in items.items():
                yield kind, name, workload

    @staticmethod
    def namespace_kind(kind: str, workload) -> str:
        """The team namespace a workload of config `kind` lands in: training, models or notebooks."""
        if kind in ("trainingJobs", "experiments"):  # an experiment's trials are training jobs
            return "training"
        if kind == "notebooks":
            return "notebooks"
        return workload.namespace

    def namespace_of(self, kind: str, workload) -> str:
        """The Kubernetes namespace of a workload of config `kind` (trainingJobs, notebooks, servings, webServices):
        its team's namespace of its kind (`models` for the default team, `vision-models` for team vision)."""
        namespace = self.namespace_kind(kind, workload)
        if namespace not in TEAM_NAMESPACES:  # already placed (stacks/workloads.py `placed`)
            return namespace
        return team_namespace(workload.team or DEFAULT_TEAM, namespace)

    def team_namespaces(self) -> dict[str, tuple[str, str]]:
        """Every team namespace -> (team, namespace kind)."""
        return {team_namespace(team, kind): (team, kind) for team in self.all_teams for kind in TEAM_NAMESPACES}

    def _check_teams(self) -> None:
        check_teams(self)
