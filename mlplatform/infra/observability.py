"""Metrics and logs for the cluster and its model servings.

Alibaba Cloud: an SLS project (named with a random suffix: SLS project names are global across all
accounts) and a logstore, and ARMS Prometheus for the cluster with a PodMonitor that scrapes Seldon's
executor metrics. Logs reach SLS through the `logtail-ds` DaemonSet on clusters with nodes; ACK Serverless
(ASK) has no nodes for a DaemonSet, so there the `alibaba-log-controller` add-on collects what pods ask for
with `aliyun_logs_*` env vars (`conventions.sls_log_env`), and the ARMS instance is attached to the
cluster's VPC, vSwitch and security group, which ASK requires.

AWS: Container Insights through the `amazon-cloudwatch-observability` add-on, whose agent gets
CloudWatchAgentServerPolicy (and X-Ray write access for Application Signals) by EKS Pod Identity, with the
application log group kept for `log_retention_days`; an Amazon Managed Prometheus workspace fed by an
agentless scraper that keeps Seldon pods. The control-plane log group `/aws/eks/<name>/cluster` is not
created here: EKS creates it when logging is enabled, so only a log group created before the cluster (by
the cluster component, with the cluster depending on it) can set its retention without colliding.

GPU metrics (`gpu`, when the stack has GPU pools): the DCGM exporter that `mlplatform/infra/gpu_monitoring.py`
installs is scraped by the same metrics path, a PodMonitor handed to ARMS (`arms.PrometheusMonitoring`) or a job of
the AMP scraper's configuration, and the idle-GPU alert is an ARMS Prometheus alert rule (`arms.PrometheusAlertRule`,
pulumi-alicloud 4.0.0: `duration` in minutes, 1m to 1440m per the ARMS API CreatePrometheusAlertRule; notified
through ARMS's alert manager) or an AMP rule-groups namespace (`amp.RuleGroupNamespace`, pulumi-aws 7.51.1: `data`
is a Prometheus rules file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws
import pulumi_random as random
import yaml

from mlplatform.infra import gpu_monitoring
from mlplatform.infra.aws_iam import pod_identity_trust_policy

# Seldon Core v1 labels every model pod with `seldon-deployment-id` and serves metrics on port `metrics`.
SELDON_POD_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "seldon-models", "namespace": "arms-prom"},
    "spec": {
        "namespaceSelector": {"any": True},
        "selector": {"matchExpressions": [{"key": "seldon-deployment-id", "operator": "Exists"}]},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/prometheus", "interval": "30s"}],
    },
}

# The AMP collector reads container metrics through the API server's node proxy with its own token, never from the
# kubelet directly: the target is `kubernetes.default.svc:443` (the only name the collector resolves) and the
# path `/api/v1/nodes/<node>/proxy/metrics/cadvisor`; `authorization` must be Bearer with this credentials file.
# AMP user guide, "Using an AWS managed collector" (sample configuration, `cadvisor` job; limitations "DNS
# resolution", "Authorization"): docs.aws.amazon.com/prometheus/latest/userguide/AMP-collector-how-to.html;
# the same job in pulumi-aws 7.51.1 `amp.Scraper` "Basic Usage".
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
CADVISOR_JOB = {
    "job_name": "kubernetes-nodes-cadvisor",
    "scheme": "https",
    "authorization": {"type": "Bearer", "credentials_file": SERVICE_ACCOUNT_TOKEN},
    "kubernetes_sd_configs": [{"role": "node"}],
    "relabel_configs": [
        {"action": "labelmap", "regex": "__meta_kubernetes_node_label_(.+)"},
        {"replacement": "kubernetes.default.svc:443", "target_label": "__address__"},
        {
            "source_labels": ["__meta_kubernetes_node_name"],
            "regex": "(.+)",
            "target_label": "__metrics_path__",
            "replacement": "/api/v1/nodes/$1/proxy/metrics/cadvisor",
        },
    ],
}

SELDON_SCRAPE_CONFIG = {
    "global": {"scrape_interval": "30s"},
    "scrape_configs": [
        {
            "job_name": "seldon-models",
            "metrics_path": "/prometheus",
            "kubernetes_sd_configs": [{"role": "pod"}],
            "relabel_configs": [
                {
                    "source_labels": ["__meta_kubernetes_pod_label_seldon_deployment_id"],
                    "regex": ".+",
                    "action": "keep",
                },
                {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics", "action": "keep"},
            ],
        },
        CADVISOR_JOB,
    ],
}


def scrape_configuration(gpu: bool) -> dict:
    """The AMP scraper's configuration: Seldon's metrics and cAdvisor, and the DCGM exporter with GPU pools."""
    if not gpu:
        return SELDON_SCRAPE_CONFIG
    return {
        **SELDON_SCRAPE_CONFIG,
        "scrape_configs": [*SELDON_SCRAPE_CONFIG["scrape_configs"], gpu_monitoring.scrape_job()],
    }


LOGSTORE = "containers"
T = TypeVar("T")
# The CloudWatch add-on's agent runs as this service account (AWS: "Install the CloudWatch agent with the
# Amazon CloudWatch Observability EKS add-on"; EKS user guide, amazon-cloudwatch-observability).
CLOUDWATCH_NAMESPACE = "amazon-cloudwatch"
CLOUDWATCH_SERVICE_ACCOUNT = "cloudwatch-agent"
CLOUDWATCH_POLICIES = ("CloudWatchAgentServerPolicy", "AWSXrayWriteOnlyAccess")


@dataclass(frozen=True)
class ObservabilityArgs:
    cloud: str
    cluster_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    # EKS: the cluster ARN the managed scraper reads from (unused on Alibaba Cloud).
    cluster_arn: pulumi.Input[str] | None
    subnet_ids: pulumi.Input[list[str]]
    log_retention_days: int = 30
    # Alibaba Cloud: the cluster kind of config (`managed`, `serverless`, `edge`); `serverless` is ASK.
    cluster_kind: str = "managed"
    # ASK: the network ARMS Prometheus attaches to (the SDK requires all three for an ASK instance); the
    # vSwitch defaults to `arms_vswitch(subnet_ids)`, whose range the collector scrapes from. EKS: the cluster security group the AMP collector's ENIs
    # join, so that they reach the nodes and pods it scrapes.
    vpc_id: pulumi.Input[str] | None = None
    vswitch_id: pulumi.Input[str] | None = None
    security_group_id: pulumi.Input[str] | None = None
    # What the in-cluster agents must wait for: node capacity, and on EKS the Pod Identity agent add-on.
    depends_on: tuple[pulumi.Resource, ...] = ()
    # With GPU pools: scrape the DCGM exporter and alert on GPUs idle below this threshold (None: no GPU pool).
    gpu: gpu_monitoring.IdleThreshold | None = None


def arms_vswitch(vswitches: Sequence[T]) -> T:
    """ASK: of the cluster's vSwitches (one per zone, in config order), the one ARMS Prometheus is attached to: the
    first. Its collector scrapes from there (mlplatform/infra/flows.py `scraper_networks`)."""
    return vswitches[0]


def sls_project_name(prefix: str, suffix: str) -> str:
    """A project name SLS accepts (3-63 lowercase letters, digits, '-'), unique through its random suffix."""
    return f"{prefix[: 63 - len(suffix) - 1].rstrip('-')}-{suffix}"


class Observability(pulumi.ComponentResource):
    """Outputs `metrics_endpoint`: where the stack's Prometheus data can be queried; `log_project`: the SLS
    project (Alibaba Cloud; None on AWS) that workloads' `sls_log_env` names on ASK."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:observability:Observability", name, None, opts)
        self._name = name
        self._args = args
        self.log_project: pulumi.Output[str] | None = None
        self.metrics_endpoint = self._alicloud() if args.cloud == "alicloud" else self._aws()
        self.register_outputs({"metrics_endpoint": self.metrics_endpoint, "log_project": self.log_project})

    def _alicloud(self) -> pulumi.Output[str]:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        on_cluster = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        suffix = random.RandomString(f"{self._name}-logs-suffix", length=6, special=False, upper=False, opts=child)
        project = alicloud.log.Project(
            f"{self._name}-logs",
            project_name=suffix.result.apply(lambda s: sls_project_name(f"{self._name}-logs", s)),
            description=f"Container logs of {self._name}",
            opts=child,
        )
        alicloud.log.Store(
            f"{self._name}-containers",
            project_name=project.project_name,
            logstore_name=LOGSTORE,
            retention_period=args.log_retention_days,
            shard_count=2,
            auto_split=True,
            max_split_shard_count=16,
            opts=child,
        )
        serverless = args.cluster_kind == "serverless"
        # ASK: no nodes, no DaemonSet; alibaba-log-controller reads `sls_project_name` from its config
        # (terraform-provider-alicloud resource_alicloud_cs_serverless_kubernetes.go, the replacement of the
        # deprecated `sls_project_name` argument).
        alicloud.cs.KubernetesAddon(
            f"{self._name}-log-collector",
            cluster_id=args.cluster_id,
            name="alibaba-log-controller" if serverless else "logtail-ds",
            config=project.project_name.apply(lambda p: json.dumps({"sls_project_name": p})),
            opts=on_cluster,
        )
        network: dict = {}
        if serverless:
            network = {
                "vpc_id": args.vpc_id,
                "vswitch_id": args.vswitch_id or pulumi.Output.from_input(args.subnet_ids).apply(arms_vswitch),
                "security_group_id": args.security_group_id,
            }
        prometheus = alicloud.arms.Prometheus(
            f"{self._name}-prometheus",
            cluster_type="aliyun-cs",
            cluster_id=args.cluster_id,
            grafana_instance_id="free",
            opts=on_cluster,
            **network,
        )
        alicloud.arms.PrometheusMonitoring(
            f"{self._name}-seldon-metrics",
            cluster_id=prometheus.cluster_id,
            type="podMonitor",
            status="run",
            config_yaml=yaml.safe_dump(SELDON_POD_MONITOR, sort_keys=False),
            opts=child,
        )
        if args.gpu:
            alicloud.arms.PrometheusMonitoring(
                f"{self._name}-gpu-metrics",
                cluster_id=prometheus.cluster_id,
                type="podMonitor",
                status="run",
                config_yaml=yaml.safe_dump(gpu_monitoring.pod_monitor(), sort_keys=False),
                opts=child,
            )
            alicloud.arms.PrometheusAlertRule(
                f"{self._name}-idle-gpu",
                cluster_id=prometheus.cluster_id,
                prometheus_alert_rule_name=f"{self._name}-idle-gpu",
                expression=gpu_monitoring.idle_expression(args.gpu),
                duration=f"{args.gpu.minutes}m",
                message=gpu_monitoring.idle_message(args.gpu),
                notify_type="ALERT_MANAGER",
                labels=[alicloud.arms.PrometheusAlertRuleLabelArgs(name="severity", value="warning")],
                opts=child,
            )
        self.log_project = project.project_name
        return prometheus.id

    def _aws(self) -> pulumi.Output[str]:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        cluster_name = pulumi.Output.from_input(args.cluster_name)
        # Created before the add-on so its Fluent Bit writes into a group with a retention, not one of its own.
        logs = aws.cloudwatch.LogGroup(
            f"{self._name}-application-logs",
            name=cluster_name.apply(lambda n: f"/aws/containerinsights/{n}/application"),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{self._name}-cloudwatch-agent",
            assume_role_policy=pod_identity_trust_policy(
                args.cluster_name, CLOUDWATCH_NAMESPACE, CLOUDWATCH_SERVICE_ACCOUNT
            ),
            description="CloudWatch agent of the amazon-cloudwatch-observability add-on (EKS Pod Identity)",
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{self._name}-cloudwatch-agent-{policy}",
                role=role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=child,
            )
            for policy in CLOUDWATCH_POLICIES
        ]
        aws.eks.Addon(
            f"{self._name}-cloudwatch-agent",
            cluster_name=args.cluster_name,
            addon_name="amazon-cloudwatch-observability",
            pod_identity_associations=[
                aws.eks.AddonPodIdentityAssociationArgs(role_arn=role.arn, service_account=CLOUDWATCH_SERVICE_ACCOUNT)
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, logs, *attachments]),
        )
        workspace = aws.amp.Workspace(f"{self._name}-prometheus", alias=f"{self._name}-prometheus", opts=child)
        # The collector scrapes from an ENI in each of `subnet_ids` (the nodes' private subnets), in the cluster
        # security group: "The security group and subnets should be set to the security group and subnets for the
        # cluster" (AMP user guide, "Using an AWS managed collector", Create a scraper). Its access to the
        # Kubernetes API needs no RBAC of ours: with `authentication_mode: API` (cluster.py) AMP creates the
        # scraper's access entry and access policy itself ("Configure Amazon EKS for scraper access with access
        # entries"); the manual `aps-collector-role`/`aps-collector-user` binding is the aws-auth alternative.
        aws.amp.Scraper(
            f"{self._name}-seldon-metrics",
            alias=f"{self._name}-seldon-metrics",
            source=aws.amp.ScraperSourceArgs(
                eks=aws.amp.ScraperSourceEksArgs(
                    cluster_arn=args.cluster_arn,
                    subnet_ids=args.subnet_ids,
                    security_group_ids=[args.security_group_id] if args.security_group_id else None,
                )
            ),
            destination=aws.amp.ScraperDestinationArgs(
                amp=aws.amp.ScraperDestinationAmpArgs(workspace_arn=workspace.arn)
            ),
            scrape_configuration=yaml.safe_dump(scrape_configuration(args.gpu is not None), sort_keys=False),
            opts=child,
        )
        if args.gpu:
            aws.amp.RuleGroupNamespace(
                f"{self._name}-gpu-rules",
                name="gpu",
                workspace_id=workspace.id,
                data=yaml.safe_dump(gpu_monitoring.idle_gpu_rule(args.gpu), sort_keys=False),
                opts=child,
            )
        return workspace.prometheus_endpoint
