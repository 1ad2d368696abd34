"""Config of what runs on KServe beyond predictors: how prepackaged servers map to KServe runtimes, and LLMs."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from mlplatform.config.base import DNS_LABEL, Cpu, Model, ModelVersionRef, PathError, Quantity

__all__ = ["KSERVE_FORMATS", "KSERVE_PROTOCOLS", "Llm", "LlmCache", "LlmScaling", "check_kserve_predictors"]


# How KServe 0.20 serves each prepackaged server (config/runtimes/*.yaml at v0.20.0): the model format the
# ClusterServingRuntimes of the kserve-runtime-configs chart auto-select on, per protocol.
KSERVE_FORMATS = {
    "TENSORFLOW_SERVER": "tensorflow",  # kserve-tensorflow-serving: protocol v1 (= TF Serving's REST API)
    "SKLEARN_SERVER": "sklearn",  # kserve-sklearnserver (v1, v2) / kserve-mlserver (v2)
    "XGBOOST_SERVER": "xgboost",  # kserve-xgbserver (v1, v2) / kserve-mlserver (v2)
    "MLFLOW_SERVER": "mlflow",  # kserve-mlserver (v2 only)
    "TRITON_SERVER": "triton",  # kserve-tritonserver (v2 only)
}
KSERVE_PROTOCOLS = {
    "TENSORFLOW_SERVER": ("tensorflow",),
    "SKLEARN_SERVER": ("tensorflow", "v2"),
    "XGBOOST_SERVER": ("tensorflow", "v2"),
    "MLFLOW_SERVER": ("v2",),
    "TRITON_SERVER": ("v2",),
}


class LlmScaling(Model):
    """Replicas of an LLM serving; `minReplicas: 0` scales to zero through a KEDA ScaledObject."""

    min_replicas: int = Field(default=0, ge=0)
    """0 lets the serving scale to zero when idle (the first request after that waits for a cold start)."""
    max_replicas: int = Field(default=1, ge=1)
    """Most replicas, each on its own GPU node(s)."""
    requests_per_second: int = Field(default=2, ge=1)
    """Target request rate per replica before KEDA adds one."""
    idle_minutes: int = Field(default=15, ge=1)
    """How long without requests before the last replica is removed (KEDA cooldownPeriod)."""

    @model_validator(mode="before")
    @classmethod
    def _no_prometheus_address(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("prometheusAddress" in data or "prometheus_address" in data):
            raise PathError(
                ("prometheusAddress",),
                "no longer set: the platform installs the Prometheus KEDA queries (scraping the KServe Gateway) "
                "whenever an LLM serving scales; remove this key",
            )
        return data

    @model_validator(mode="after")
    def _bounds(self) -> LlmScaling:
        if self.min_replicas > self.max_replicas:
            raise PathError(
                ("minReplicas",), f"minReplicas {self.min_replicas} is greater than maxReplicas {self.max_replicas}"
            )
        return self


class LlmCache(Model):
    """Keep the weights on the nodes' local disks (a KServe LocalModelCache) so a cold start skips the download."""

    node_group: str = Field(pattern=DNS_LABEL)
    """The LocalModelNodeGroup (nodes and their local volume) the cache lives on."""
    size: Quantity = "50Gi"
    """Disk the weights take on each node."""


class Llm(Model):
    """A large language model on a GPU pool: the Hugging Face server with the vLLM backend (KServe 0.20)."""

    model: ModelVersionRef
    """The model version whose weights (Hugging Face layout) are in the models bucket: no hub download at run time."""
    gpus: int = Field(default=1, ge=1, le=16)
    """GPUs per replica, all on one node; the model is split across them (vLLM tensor parallelism)."""
    cpu: Cpu = "8"
    """CPU per replica."""
    memory: Quantity = "48Gi"
    """Memory per replica (the weights pass through it while loading)."""
    max_model_len: int | None = Field(default=None, ge=1)
    """Longest context in tokens; by default the model's own (lower it to fit a small GPU's memory)."""
    image: str | None = None
    """Replace the runtime's huggingfaceserver image (pin a tag)."""
    scaling: LlmScaling = LlmScaling(min_replicas=1)
    """Replicas and scale to zero."""
    cache: LlmCache | None = None
    """Optional node-local copy of the weights."""

    @property
    def resources(self):
        """The replica's resources as workloads request them (whole GPUs)."""
        from mlplatform.config.workloads import Resources

        return Resources(cpu=self.cpu, memory=self.memory, gpu=self.gpus)


def check_kserve_predictors(protocol: str, predictors: list, stable) -> None:
    """What KServe 0.20 refuses or cannot run, as config errors (paths within the serving): the rules of its
    InferenceService webhook (pkg/apis/serving/v1beta1/inference_service_validation.go, validateCanarySpecs)
    and of its runtimes. `stable` is the predictor that becomes `spec.predictor`; the others are canaries."""
    if protocol == "seldon":
        raise PathError(("protocol",), "KServe serves protocol tensorflow (its v1) or v2, not seldon")
    for index, predictor in enumerate(predictors):
        server = predictor.server
        if server and protocol not in KSERVE_PROTOCOLS[server]:
            supported = " or ".join(KSERVE_PROTOCOLS[server])
            raise PathError(("predictors", index, "server"), f"KServe runs {server} with protocol {supported} only")
        if predictor is not stable and predictor.autoscaling:
            raise PathError(
                ("predictors", index, "autoscaling"),
                f"{predictor.name!r} is a KServe canary (the stable predictor is {stable.name!r}); "
                "canaries run fixed replicas and set no autoscaling",
            )
        if predictor.batching and protocol != "tensorflow":
            reason = "KServe's batcher reads v1 requests (`instances`): use protocol tensorflow to batch"
            raise PathError(("predictors", index, "batching"), reason)
        # The controller builds a canary by merging it onto a copy of the stable predictor (mergo,
        # WithOverride: components/predictor.go buildCanaryPredictor), so what a canary leaves out it inherits.
        if predictor is not stable and stable.batching and not predictor.batching:
            reason = (
                f"a KServe canary inherits what it leaves out from the stable predictor {stable.name!r}, "
                "its batcher too: give this predictor batching as well"
            )
            raise PathError(("predictors", index, "batching"), reason)
        if predictor is not stable and (predictor.image is None) != (stable.image is None):
            reason = (
                f"a KServe canary is merged onto the stable predictor {stable.name!r}: "
                "both run a prepackaged server or both a custom image"
            )
            raise PathError(("predictors", index, "image" if predictor.image else "server"), reason)
