"""Metrics and logs for the cluster and its model servings.

Alibaba Cloud: an SLS project and logstore fed by the `logtail-ds` add-on, and ARMS Prometheus for the
cluster with a PodMonitor that scrapes Seldon's executor metrics. AWS: CloudWatch log groups with a
retention (Container Insights through the `amazon-cloudwatch-observability` add-on, and the control
plane), and an Amazon Managed Prometheus workspace fed by an agentless scraper that keeps Seldon pods.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws
import yaml

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
        {"job_name": "kubernetes-nodes-cadvisor", "kubernetes_sd_configs": [{"role": "node"}], "scheme": "https"},
    ],
}


@dataclass(frozen=True)
class ObservabilityArgs:
    cloud: str
    cluster_id: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    # EKS: the cluster ARN the managed scraper reads from (unused on Alibaba Cloud).
    cluster_arn: pulumi.Input[str] | None
    subnet_ids: pulumi.Input[list[str]]
    log_retention_days: int = 30
    # EKS control-plane log types (the cluster sends them; this component keeps their retention).
    control_plane_logs: tuple[str, ...] = ()


class Observability(pulumi.ComponentResource):
    """Output `metrics_endpoint`: where the stack's Prometheus data can be queried."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:observability:Observability", name, None, opts)
        self._name = name
        self._args = args
        self.metrics_endpoint = self._alicloud() if args.cloud == "alicloud" else self._aws()
        self.register_outputs({"metrics_endpoint": self.metrics_endpoint})

    def _alicloud(self) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        project = alicloud.log.Project(f"{self._name}-logs", project_name=f"{self._name}-logs", opts=child)
        alicloud.log.Store(
            f"{self._name}-containers",
            project_name=project.project_name,
            logstore_name="containers",
            retention_period=self._args.log_retention_days,
            shard_count=2,
            auto_split=True,
            max_split_shard_count=16,
            opts=child,
        )
        alicloud.cs.KubernetesAddon(
            f"{self._name}-logtail",
            cluster_id=self._args.cluster_id,
            name="logtail-ds",
            config=project.project_name.apply(lambda p: json.dumps({"sls_project_name": p})),
            opts=child,
        )
        prometheus = alicloud.arms.Prometheus(
            f"{self._name}-prometheus",
            cluster_type="aliyun-cs",
            cluster_id=self._args.cluster_id,
            grafana_instance_id="free",
            opts=child,
        )
        alicloud.arms.PrometheusMonitoring(
            f"{self._name}-seldon-metrics",
            cluster_id=prometheus.cluster_id,
            type="podMonitor",
            status="run",
            config_yaml=yaml.safe_dump(SELDON_POD_MONITOR, sort_keys=False),
            opts=child,
        )
        return prometheus.id

    def _aws(self) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        groups = {"application": "/aws/containerinsights/{}/application"}
        if self._args.control_plane_logs:
            groups["control-plane"] = "/aws/eks/{}/cluster"
        for kind, pattern in groups.items():
            aws.cloudwatch.LogGroup(
                f"{self._name}-{kind}-logs",
                name=pulumi.Output.from_input(self._args.cluster_name).apply(pattern.format),
                retention_in_days=self._args.log_retention_days,
                opts=child,
            )
        aws.eks.Addon(
            f"{self._name}-cloudwatch-agent",
            cluster_name=self._args.cluster_name,
            addon_name="amazon-cloudwatch-observability",
            opts=child,
        )
        workspace = aws.amp.Workspace(f"{self._name}-prometheus", alias=f"{self._name}-prometheus", opts=child)
        aws.amp.Scraper(
            f"{self._name}-seldon-metrics",
            alias=f"{self._name}-seldon-metrics",
            source=aws.amp.ScraperSourceArgs(
                eks=aws.amp.ScraperSourceEksArgs(cluster_arn=self._args.cluster_arn, subnet_ids=self._args.subnet_ids)
            ),
            destination=aws.amp.ScraperDestinationArgs(
                amp=aws.amp.ScraperDestinationAmpArgs(workspace_arn=workspace.arn)
            ),
            scrape_configuration=yaml.safe_dump(SELDON_SCRAPE_CONFIG, sort_keys=False),
            opts=child,
        )
        return workspace.prometheus_endpoint
