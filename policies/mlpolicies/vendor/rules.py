"""Rules stated once, for config validation, rendering, offline validation and the policy pack alike.

Standard library only, on purpose: the Pulumi CLI runs the policy pack from its own folder with its own
requirements, so `policies/mlpolicies/vendor/rules.py` is a byte-identical copy of this file, and
`tests/test_vendored.py` fails when the two differ. Change a rule here, then copy the file there.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# ---------------------------------------------------------------- model versions

# `color:v2`: a model name (a DNS label) and a version tag, as training jobs write and servings read them.
MODEL_VERSION = re.compile(r"^(?P<model>[a-z][-a-z0-9]*):(?P<version>[A-Za-z0-9][-A-Za-z0-9._]*)$")
MODEL_VERSION_FORM = "name:version, e.g. color:v2 (a lowercase name, a colon, then letters, digits, '-', '.' or '_')"


def parse_model_version(reference: str) -> tuple[str, str] | None:
    """('color', 'v2') for 'color:v2'; None for anything that is not a model version."""
    match = MODEL_VERSION.match(reference) if isinstance(reference, str) else None
    return (match["model"], match["version"]) if match else None


def model_prefix(reference: str) -> str:
    """Where a model version lives in its environment's models bucket: 'color:v2' -> 'color/v2'."""
    parsed = parse_model_version(reference)
    if parsed is None:
        raise ValueError(f"{reference!r} is not a model version ({MODEL_VERSION_FORM})")
    return "/".join(parsed)


# ---------------------------------------------------------------- traffic splits


class TrafficProblem(NamedTuple):
    """Why a split over live (non-shadow) predictors cannot be served: `kind` is 'sum' or 'single'."""

    kind: str
    split: str  # "v1=80 + v2=10"
    total: int


def traffic_problem(live: list[tuple[str, int]]) -> TrafficProblem | None:
    """Several live predictors split 100% between them; a single one takes all (0 = unset, or 100)."""
    total = sum(percent for _, percent in live)
    split = " + ".join(f"{name}={percent}" for name, percent in live)
    if len(live) > 1 and total != 100:
        return TrafficProblem("sum", split, total)
    if len(live) == 1 and total not in (0, 100):
        return TrafficProblem("single", split, total)
    return None


# ---------------------------------------------------------------- distributed training roles

# The replica types each Kubeflow training-operator v1 job kind accepts (its webhooks, v1.9).
FRAMEWORK_ROLES = {
    "tensorflow": ("PS", "Chief", "Master", "Worker", "Evaluator"),
    "pytorch": ("Master", "Worker"),
    "xgboost": ("Master", "Worker"),
    "mpi": ("Launcher", "Worker"),
}
# Roles that coordinate a job: exactly one replica each.
SINGLE_REPLICA_ROLES = ("Chief", "Master", "Launcher")
# Roles a job cannot run without.
REQUIRED_ROLES = {"tensorflow": (), "pytorch": ("Master",), "xgboost": ("Master",), "mpi": ("Launcher",)}


def role_problems(framework: str, roles: dict[str, int]) -> list[tuple[tuple, str]]:
    """(path below `roles`, reason) for each way `roles` (role -> replicas) breaks the framework's rules."""
    allowed = FRAMEWORK_ROLES[framework]
    problems: list[tuple[tuple, str]] = []
    for role, replicas in roles.items():
        if role not in allowed:
            problems.append(((role,), f"{framework} has no role {role!r}; its roles: {', '.join(allowed)}"))
        elif role in SINGLE_REPLICA_ROLES and replicas != 1:
            problems.append(((role, "replicas"), f"{role} runs exactly 1 replica, not {replicas}"))
    if framework == "tensorflow" and {"Chief", "Master"} <= set(roles):
        problems.append(((), "a TFJob has at most one of Chief and Master"))
    if framework == "tensorflow" and not {"Chief", "Master", "Worker"} & set(roles):
        problems.append(((), "a TFJob needs a Chief, Master or Worker: PS and Evaluator alone never finish"))
    for role in REQUIRED_ROLES[framework]:
        if role not in roles:
            problems.append(((), f"a {framework} job needs a {role} role"))
    return problems


# The ClusterTrainingRuntimes Kubeflow Trainer v2.3.0's chart installs (`runtimes.*` values; manifests/base/runtimes):
# what a TrainJob's runtimeRef may name.
TRAINER_BUILTIN_RUNTIMES = (
    "torch-distributed",
    "deepspeed-distributed",
    "mlx-distributed",
    "jax-distributed",
    "xgboost-distributed",
)


# ---------------------------------------------------------------- GPU instance types

# Instance type prefixes of the NVIDIA GPU families each cloud sells.
# Alibaba: ECS instance families, "GPU-accelerated compute-optimized / visualization" (gn*, ebmgn*, sgn*, vgn*),
# help.aliyun.com/zh/ecs/user-guide/gpu-accelerated-compute-optimized-and-vgpu-accelerated-instance-families-1
# AWS: EC2 accelerated computing instances (P and G families with NVIDIA GPUs),
# docs.aws.amazon.com/ec2/latest/instancetypes/ac.html
GPU_INSTANCE_PREFIXES = {
    "alicloud": ("ecs.gn", "ecs.ebmgn", "ecs.sgn", "ecs.vgn"),
    "aws": ("p3.", "p3dn.", "p4d.", "p4de.", "p5.", "p5e.", "p5en.", "p6-", "g4dn.", "g5.", "g6.", "g6e.", "gr6."),
}


def is_instance_type_of(instance_type: str, cloud: str) -> bool:
    """ECS types are `ecs.<family>.<size>`; EC2 types `<family>.<size>` (m6i.large, p4d.24xlarge)."""
    if cloud == "alicloud":
        return re.match(r"^ecs\.[a-z0-9-]+\.[a-z0-9-]+$", instance_type) is not None
    return re.match(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$", instance_type) is not None and not instance_type.startswith(
        "ecs."
    )


def is_gpu_instance_type(instance_type: str, cloud: str | None = None) -> bool:
    """Does this instance type carry NVIDIA GPUs (on `cloud`, or on any cloud we support)?"""
    clouds = [cloud] if cloud else list(GPU_INSTANCE_PREFIXES)
    return any(instance_type.startswith(GPU_INSTANCE_PREFIXES[each]) for each in clouds)


# ---------------------------------------------------------------- wire markers the pack reads

# The model version a serving's predictor runs, on the SeldonDeployment's predictor annotations.
MODEL_VERSION_ANNOTATION = "mlplatform.io/model-version"


# ---------------------------------------------------------------- private load balancers

# The annotation that keeps a LoadBalancer Service on the private network, as each cloud's own
# controller reads it (the platform installs no other load-balancer controller):
# - Alibaba Cloud Controller Manager: `address-type: intranet`,
#   help.aliyun.com/zh/ack/ack-managed-and-ack-dedicated/user-guide/add-annotations-to-the-yaml-file-of-a-service-to-configure-clb-instances
# - AWS, kubernetes/cloud-provider-aws (legacy in-tree service controller): `aws-load-balancer-internal: "true"`,
#   github.com/kubernetes/cloud-provider-aws/blob/master/pkg/providers/v1/aws.go (ServiceAnnotationLoadBalancerInternal).
#   `aws-load-balancer-scheme` is read only by the AWS Load Balancer Controller: on its own it leaves the LB public.
INTERNAL_LOAD_BALANCER = {
    "alicloud": ("service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type", ("intranet",)),
    "aws": ("service.beta.kubernetes.io/aws-load-balancer-internal", ("true", "0.0.0.0/0")),
}


def internal_load_balancer_annotations(cloud: str) -> dict[str, str]:
    key, values = INTERNAL_LOAD_BALANCER[cloud]
    return {key: values[0]}


def is_internal_load_balancer(annotations: dict) -> bool:
    """Do these Service annotations keep its load balancer off the internet, on any cloud we support?"""
    return any(str(annotations.get(key, "")).lower() in values for key, values in INTERNAL_LOAD_BALANCER.values())


# ---------------------------------------------------------------- EKS Pod Identity trust

# EKS Pod Identity assumes a role with session tags naming the pod's cluster, namespace and service account
# (EKS user guide, "Create IAM role with trust policy required by EKS Pod Identity", Setting Conditions, and
# "Grant Pods access to AWS resources based on tags", the session tags list:
# docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html, pod-id-abac.html). Without conditions on the
# namespace and service account, any Pod Identity association in the account may hand the role to its pods.
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
POD_IDENTITY_CLUSTER = "aws:RequestTag/eks-cluster-name"
POD_IDENTITY_SCOPE = ("aws:RequestTag/kubernetes-namespace", "aws:RequestTag/kubernetes-service-account")


def pod_identity_trust(cluster_name: str, namespace: str, service_account: str) -> dict:
    """The trust policy of a role only pods of `namespace`/`service_account` on `cluster_name` may assume."""
    namespace_key, account_key = POD_IDENTITY_SCOPE
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_SERVICE},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {
                        POD_IDENTITY_CLUSTER: cluster_name,
                        namespace_key: namespace,
                        account_key: service_account,
                    }
                },
            }
        ],
    }


def unscoped_pod_identity_statements(trust: object) -> list[str]:
    """Each Allow statement for EKS Pod Identity without StringEquals on the namespace and service account tags,
    as "<Sid or #index> lacks <keys>"."""
    statements = trust.get("Statement") if isinstance(trust, dict) else None
    problems = []
    for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        if POD_IDENTITY_SERVICE not in (services if isinstance(services, list) else [services]):
            continue
        condition = statement.get("Condition")
        equals = condition.get("StringEquals") if isinstance(condition, dict) else None
        missing = [key for key in POD_IDENTITY_SCOPE if not (isinstance(equals, dict) and equals.get(key))]
        if missing:
            problems.append(f"{statement.get('Sid') or f'#{index}'} lacks {', '.join(missing)}")
    return problems
