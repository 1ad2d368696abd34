"""Contracts between the layers: labels, names and wire markers that more than one layer must agree on.

Imports nothing of ours, so config, components, offline tools and tests can all depend on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

NAMESPACE = "ml-platform"  # the stack config namespace: `ml-platform:servings`

# GPU nodes: the label our pools carry and workloads select, and the taint that keeps other pods off.
GPU_NODE_LABEL = ("mlplatform.io/accelerator", "nvidia-gpu")
GPU_TAINT = ("nvidia.com/gpu", "present", "NoSchedule")
# ACK shared-GPU (cGPU) node label, read by ack-ai-installer's scheduler plugins.
CGPU_LABEL = ("ack.node.gpu.schedule", "cgpu")
# The label the NVIDIA device plugin chart's default affinity accepts on nodes without node-feature-discovery
# ("We allow a GPU deployment to be forced by setting the following label to 'true'", chart values.yaml at
# NVIDIA/k8s-device-plugin v0.20.0): EKS GPU pools carry it, or the plugin runs on no node.
NVIDIA_GPU_PRESENT_LABEL = ("nvidia.com/gpu.present", "true")

# The StorageClass the platform creates on every cluster and every claim it renders names: no claim relies on
# a default class (ASK has none; ACK's and EKS's are not marked default).
DISK_STORAGE_CLASS = "ml-platform-disk"


# What a value only the cloud can tell (an address, a generated key) looks like in the offline plan.
COMPUTED = "(known after apply)"
# How a secret value is shown: never its contents.
SECRET_TEXT = "[secret]"
# How the Pulumi engine (and `pulumi stack export`) marks a secret value: {SIG_KEY: SECRET_SIG, ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def plain_json(value: Any) -> Any:
    """Numbers the mock runtime turned into floats back to integers, recursively."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value


def property_path(parts: tuple | list) -> str:
    """('servings', 'color', 'predictors', 1, 'traffic') -> servings.color.predictors[1].traffic

    The notation of Pulumi property paths, as `pulumi config set --path` reads them: keys holding
    '.', '[', ']' or '"' are quoted (`labels["app.kubernetes.io/name"]`).
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part and not any(char in part for char in '.[]"'):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


# The annotation on every Kubernetes object (and part of one: a predictor) rendered from a config entry, and the tag
# on cloud resources that take tags, naming that entry: `servings.color`, `servings.color.predictors[0]`,
# `nodePools.gpu`. The policy pack (its copy: policies/mlpolicies/props.py) leads its verdicts with it.
CONFIG_PATH_ANNOTATION = "mlplatform.io/config-path"


def config_path_annotation(*parts: str | int) -> dict[str, str]:
    """('servings', 'color', 'predictors', 0) -> {CONFIG_PATH_ANNOTATION: 'servings.color.predictors[0]'}"""
    return {CONFIG_PATH_ANNOTATION: property_path(parts)}


def config_key(parts: tuple | list) -> str:
    """The full config key of a path: ('servings', 'color') -> ml-platform:servings.color"""
    return f"{NAMESPACE}:{property_path(parts)}"


def mirrored(image: str, registry: str | None) -> str:
    """`image` as pulled through the mirror `registry` (a host with an optional path); unchanged without one.

    The source registry host is dropped and the repository path kept, the layout registry mirrors and
    image-sync tools use: `docker.io/seldonio/seldon-core-operator:1.17.1` ->
    `<registry>/seldonio/seldon-core-operator:1.17.1`, `nvcr.io/nvidia/k8s-device-plugin` ->
    `<registry>/nvidia/k8s-device-plugin`, and a Docker Hub official image (`busybox`, `docker.io/alpine`) ->
    `<registry>/library/busybox`: Docker Hub's own name of it, so both spellings land on one repository.
    """
    if not registry:
        return image
    registry = registry.rstrip("/")
    if image.startswith(registry + "/"):
        return image
    first, _, rest = image.partition("/")
    host, path = (first, rest) if rest and ("." in first or ":" in first or first == "localhost") else ("", image)
    if host in ("", "docker.io", "index.docker.io") and "/" not in path:
        path = f"library/{path}"
    return f"{registry}/{path}"


def sls_log_env(project: str, logstore: str) -> list[dict[str, str]]:
    """Pod env vars that make Alibaba Cloud collect a container's stdout into `project`/`logstore`.

    How ACK Serverless (ASK, no nodes for the logtail DaemonSet) collects logs, through the
    `alibaba-log-controller` add-on: `aliyun_logs_{key}=stdout` plus `aliyun_logs_{key}_project`
    (SLS "Use pod environment variables to collect application logs", cited in docs/cloud-rules.md).
    """
    return [
        {"name": f"aliyun_logs_{logstore}", "value": "stdout"},
        {"name": f"aliyun_logs_{logstore}_project", "value": project},
    ]


def member_key(member: str) -> str:
    """The part of a grant's resource name that says whose it is, readable and the same wherever members list it.

    ACK `ram-role:300800000000001` -> `ram-role-300800000000001` (config allows only `ram-(user|role):<digits>`,
    so nothing is lost). EKS `arn:aws:iam::123456789012:role/ml/readers` -> `role-ml-readers-<sha256 prefix of
    the ARN>`: the tail after the account reads as the principal, and the digest keeps two principals apart that
    differ in the account or only where the tail became `-`.
    """
    if not member.startswith("arn:"):
        return member.replace(":", "-")
    tail = member.split(":", 5)[5]
    digest = hashlib.sha256(member.encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', tail).strip('-')}-{digest}"
