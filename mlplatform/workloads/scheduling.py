"""Where a workload's pods land and what they reserve: shared by servings, training jobs and notebooks.

The stack layer knows how the cluster exposes GPUs (device-plugin resource names, the taint on the GPU
pool, its node label) and hands that over as a `GpuScheduling`; components turn a `Resources` config
into container `resources` plus the tolerations and node selector a GPU pod needs. A MIG instance is asked for by
its profile's resource (`nvidia.com/mig-1g.10gb`), the name the NVIDIA device plugin's `mixed` strategy gives it;
the pod then lands on the GPU pool like any GPU pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlplatform.config import Resources
from mlplatform.config.infra import mig_resource
from mlplatform.conventions import GPU_NODE_LABEL, GPU_TAINT


@dataclass(frozen=True)
class GpuScheduling:
    """How GPUs are requested and how the GPU node pool is reached."""

    # Extended resource for whole GPUs (the NVIDIA device plugin; ACK's plugin uses the same name).
    gpu_resource: str = "nvidia.com/gpu"
    # Extended resource for a GiB slice of GPU memory (ACK cGPU); used only when gpuMemoryGb is set.
    gpu_memory_resource: str = "aliyun.com/gpu-mem"
    # The taint that keeps CPU workloads off the GPU pool; `taint_value=None` tolerates any value.
    taint_key: str = GPU_TAINT[0]
    taint_value: str | None = GPU_TAINT[1]
    taint_effect: str = GPU_TAINT[2]
    # Labels of the GPU pool's nodes.
    node_selector: dict[str, str] = field(default_factory=lambda: dict([GPU_NODE_LABEL]))


@dataclass(frozen=True)
class Placement:
    """A container's `resources` and the pod fields that put it on the right nodes."""

    resources: dict
    tolerations: list[dict]
    node_selector: dict[str, str]

    def pod_fields(self) -> dict:
        """`tolerations` and `nodeSelector` for a pod spec, empty for a CPU-only pod."""
        fields: dict = {}
        if self.tolerations:
            fields["tolerations"] = self.tolerations
        if self.node_selector:
            fields["nodeSelector"] = self.node_selector
        return fields


def placement(resources: Resources, gpu: GpuScheduling) -> Placement:
    """Requests and limits (limits default to the requests; GPU requests equal limits) and GPU placement."""
    requests = {"cpu": resources.cpu, "memory": resources.memory}
    limits = {"cpu": resources.cpu_limit or resources.cpu, "memory": resources.memory_limit or resources.memory}
    # Extended resources cannot be overcommitted: Kubernetes requires requests == limits for them.
    extended = {}
    if resources.gpu:
        # EKS MIG: the device plugin's `mixed` strategy offers each profile as its own resource (mig_resource).
        name = mig_resource(resources.mig_profile) if resources.mig_profile else gpu.gpu_resource
        extended[name] = str(resources.gpu)
    if resources.gpu_memory_gb:
        extended[gpu.gpu_memory_resource] = str(resources.gpu_memory_gb)
    container = {"requests": {**requests, **extended}, "limits": {**limits, **extended}}
    if not resources.wants_gpu:
        return Placement(container, [], {})
    toleration = {"key": gpu.taint_key, "effect": gpu.taint_effect}
    if gpu.taint_value is None:
        toleration["operator"] = "Exists"
    else:
        toleration.update(operator="Equal", value=gpu.taint_value)
    return Placement(container, [toleration], dict(gpu.node_selector))
