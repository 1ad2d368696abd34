"""Policy on tenancy: every namespace that runs workloads is fenced in (network policy, quota, pod security)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from mlpolicies.props import as_dict, config_path, dig, kind_of, plain

# Kinds that run pods (built-in controllers and the operators' custom resources the platform renders).
WORKLOAD_KINDS = (
    "Pod",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "SeldonDeployment",
    "InferenceService",
    "LLMInferenceService",
    "TFJob",
    "PyTorchJob",
    "XGBoostJob",
    "MPIJob",
    "Notebook",
    "TrainJob",
    "Experiment",
)
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
# `privileged` admits everything: it fences nothing (kubernetes.io/docs/concepts/security/pod-security-standards).
FENCING_LEVELS = ("baseline", "restricted")


def _namespace(props: dict) -> str | None:
    value = dig(props, "metadata", "namespace")
    return value if isinstance(value, str) else None


def _validate_namespaces_fenced(args: StackValidationArgs, report: ReportViolation) -> None:
    workloads: dict[str, list] = {}  # namespace -> workload resources in it
    whole_namespace_policies: set[str] = set()
    quotas: set[str] = set()
    enforced: dict[str, str] = {}  # namespace -> its PSA enforce level
    for resource in args.resources:
        if not resource.resource_type.startswith("kubernetes:"):
            continue
        props = plain(resource.props)
        kind = kind_of(resource.resource_type)
        namespace = _namespace(props)
        if resource.resource_type == NAMESPACE:
            name = dig(props, "metadata", "name")
            level = as_dict(dig(props, "metadata", "labels")).get(PSA_ENFORCE)
            if isinstance(name, str) and isinstance(level, str):
                enforced[name] = level
        elif resource.resource_type == NETWORK_POLICY and namespace:
            # A policy fences the namespace only when it selects every pod of it (an empty podSelector).
            if not as_dict(dig(props, "spec", "podSelector")):
                whole_namespace_policies.add(namespace)
        elif resource.resource_type == RESOURCE_QUOTA and namespace:
            quotas.add(namespace)
        elif kind in WORKLOAD_KINDS and namespace:
            workloads.setdefault(namespace, []).append(resource)
    for namespace, resources in sorted(workloads.items()):
        missing = []
        if namespace not in whole_namespace_policies:
            missing.append("a NetworkPolicy selecting all its pods (default deny)")
        if namespace not in quotas:
            missing.append("a ResourceQuota")
        if enforced.get(namespace) not in FENCING_LEVELS:
            missing.append(f"a `{PSA_ENFORCE}` label of baseline or restricted on its Namespace")
        if missing:
            names = ", ".join(
                config_path(plain(r.props)) or f"{kind_of(r.resource_type)} {r.name}" for r in resources[:3]
            )
            more = f" and {len(resources) - 3} more" if len(resources) > 3 else ""
            report(
                f"namespace {namespace!r} runs workloads ({names}{more}) but lacks {'; '.join(missing)}: "
                "give the workloads a team (config `teams:`), whose namespaces are fenced.",
                resources[0].urn,
            )


namespaces_fenced = StackValidationPolicy(
    name="namespaces-fenced",
    description="Every namespace that runs workloads has a default-deny NetworkPolicy, a ResourceQuota and a Pod "
    "Security Admission enforce label.",
    validate=_validate_namespaces_fenced,
)
