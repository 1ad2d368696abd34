"""GPU metrics on every GPU node: NVIDIA's DCGM exporter, and what the cloud's Prometheus needs to scrape and alert on it.

The `GpuMonitoring` component installs the `dcgm-exporter` chart (pinned in `mlplatform/pins.py`) into its own
namespace, as a DaemonSet on the GPU pools only: it selects the GPU node label and tolerates the GPU taint
(`conventions.GPU_NODE_LABEL`, `GPU_TAINT`) the pools carry on both clouds. The observability component scrapes it
(ARMS: `pod_monitor`; AMP: `scrape_job`) and evaluates the idle-GPU alert (`idle_gpu_rule`).

What the exporter needs, from NVIDIA/dcgm-exporter@4.5.3-4.8.2 `deployment/values.yaml` and `templates/daemonset.yaml`:
- the GPUs: the image sets `NVIDIA_VISIBLE_DEVICES=all` (docker/Dockerfile), so the NVIDIA container runtime, the
  default runtime of the GPU nodes of both clouds (EKS AL2023 NVIDIA AMI; ACK GPU nodes), hands it every GPU; no
  privileged container, no device mounts;
- the kubelet's pod-resources socket (a read-only hostPath of `/var/lib/kubelet/pod-resources`), to label each
  GPU's series with the `namespace`, `pod` and `container` using it (`DCGM_EXPORTER_KUBERNETES=true`; labels from
  internal/pkg/transformation/const.go). Connecting to that root-owned socket needs user 0, so the chart's
  `runAsUser: 0` stays;
- `CAP_SYS_ADMIN`, the one capability the chart adds (all others dropped, no privilege escalation), for the profiling
  counters (`DCGM_FI_PROF_*`) of its default counter list: on a MIG instance NVML reports no `DCGM_FI_DEV_GPU_UTIL`,
  and `DCGM_FI_PROF_GR_ENGINE_ACTIVE` is its utilisation. The pod runs the RuntimeDefault seccomp profile.
The chart's ServiceMonitor is off (EKS has no Prometheus operator; on ACK the platform hands ARMS a PodMonitor, as
for Seldon), and so is the pod-label/UID option (it needs a ClusterRole to read every pod).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from mlplatform import images, pins
from mlplatform.conventions import GPU_NODE_LABEL, GPU_TAINT
from mlplatform.infra import helm

NAMESPACE = "gpu-monitoring"
RELEASE = "dcgm-exporter"
# The chart's selector labels (templates/_helpers.tpl `dcgm-exporter.selectorLabels`; the name is the chart's, the
# instance the release's) and its metrics port (`service.port`, the container port named `metrics`).
POD_LABELS = {"app.kubernetes.io/name": "dcgm-exporter", "app.kubernetes.io/instance": RELEASE}
PORT_NAME = "metrics"
PORT = 9400
UTILIZATION = "DCGM_FI_DEV_GPU_UTIL"
IDLE_ALERT = "IdleGpu"


@dataclass(frozen=True)
class IdleThreshold:
    """A namespace's GPUs are idle below `utilization` percent for `minutes`."""

    utilization: int
    minutes: int


def exporter_values(registry: str | None = None) -> dict:
    """The dcgm-exporter chart values (keys from its 4.8.2 values.yaml)."""
    values: dict = {
        "nodeSelector": {GPU_NODE_LABEL[0]: GPU_NODE_LABEL[1]},
        "tolerations": [{"key": GPU_TAINT[0], "operator": "Exists", "effect": GPU_TAINT[2]}],
        "serviceMonitor": {"enabled": False},
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            "runAsNonRoot": False,
            "runAsUser": 0,
            "capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]},
            "allowPrivilegeEscalation": False,
        },
    }
    return images.merged(images.mirror_values(images.DCGM_EXPORTER, registry), values)


def pod_monitor() -> dict:
    """ARMS (ACK): the PodMonitor of the exporter's pods. `honorLabels` keeps the exporter's `namespace` (the GPU's
    user) instead of renaming it `exported_namespace` beside the target's own (Prometheus `honor_labels`)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "dcgm-exporter", "namespace": "arms-prom"},
        "spec": {
            "namespaceSelector": {"matchNames": [NAMESPACE]},
            "selector": {"matchLabels": dict(POD_LABELS)},
            "podMetricsEndpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "30s", "honorLabels": True}],
        },
    }


def scrape_job() -> dict:
    """AMP (EKS): the managed collector's job for the exporter's pods; it adds no `namespace` target label, so the
    exporter's stays."""
    return {
        "job_name": "dcgm-exporter",
        "metrics_path": "/metrics",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [NAMESPACE]}}],
        "relabel_configs": [
            {
                "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                "regex": POD_LABELS["app.kubernetes.io/name"],
                "action": "keep",
            },
            {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": PORT_NAME, "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        ],
    }


def idle_expression(threshold: IdleThreshold) -> str:
    """PromQL: per namespace, the average utilisation of the GPUs its pods hold, when below the threshold. GPUs no pod
    holds carry no `namespace` (AMP) or the exporter's own (ARMS, honorLabels): left out."""
    selector = f'namespace!="",namespace!="{NAMESPACE}"'
    return f"avg by (namespace) ({UTILIZATION}{{{selector}}}) < {threshold.utilization}"


def idle_message(threshold: IdleThreshold) -> str:
    return (
        f"The GPUs of namespace {{{{ $labels.namespace }}}} averaged under {threshold.utilization}% utilisation for "
        f"{threshold.minutes} minutes: free them (scale the workload down, or to zero)."
    )


def idle_gpu_rule(threshold: IdleThreshold) -> dict:
    """AMP: the rules file of the rule-groups namespace (Prometheus alerting rules; AMP user guide, "Recording rules
    and alerting rules"): the alert fires once the expression held for `minutes`."""
    return {
        "groups": [
            {
                "name": "gpu",
                "rules": [
                    {
                        "alert": IDLE_ALERT,
                        "expr": idle_expression(threshold),
                        "for": f"{threshold.minutes}m",
                        "labels": {"severity": "warning"},
                        "annotations": {"summary": idle_message(threshold)},
                    }
                ],
            }
        ]
    }


@dataclass(frozen=True)
class GpuMonitoringArgs:
    # `operators.imageRegistry`: the exporter's image is pulled through it.
    image_registry: str | None = None


class GpuMonitoring(pulumi.ComponentResource):
    """Output `ready`: the exporter's release."""

    def __init__(self, name: str, args: GpuMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:gpu_monitoring:GpuMonitoring", name, None, opts)
        namespace = helm.namespace(f"{name}-namespace", NAMESPACE, self)
        self.ready = helm.pinned_release(
            f"{name}-exporter",
            RELEASE,
            pins.DCGM_EXPORTER.chart,
            pins.DCGM_EXPORTER.version,
            namespace.metadata.name,
            exporter_values(args.image_registry),
            self,
            pins.DCGM_EXPORTER.repo,
        )
        self.register_outputs({})
