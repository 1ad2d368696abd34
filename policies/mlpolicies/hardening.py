"""Policies on how pods run: the Pod Security Standards' restricted fields, and notebooks behind single sign-on."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlpolicies.props import (
    TRAIN_JOB,
    UNKNOWN,
    Pod,
    as_dict,
    as_list,
    config_path,
    containers,
    dig,
    is_prod,
    label,
    plain,
    pod_specs,
    trial_of,
    verdict,
)

# ------------------------------------------------------------------ pod hardening

# Pod Security Standards, "Restricted" (kubernetes.io/docs/concepts/security/pod-security-standards/): the only
# capability a container may add back, and the seccomp profile types allowed.
ALLOWED_CAPABILITIES = ("NET_BIND_SERVICE",)
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def _known(value) -> bool:
    return value is not UNKNOWN


def trainjob_patched_pods(props: dict) -> Iterator[Pod]:
    """Each replicated job a TrainJob's `runtimePatches` patch: the parts of the nodes' pods the TrainJob sets (the
    rest comes from the ClusterTrainingRuntime)."""
    for patch in as_list(dig(props, "spec", "runtimePatches")):
        for job in as_list(dig(patch, "trainingRuntimeSpec", "template", "spec", "replicatedJobs")):
            pod = dig(job, "template", "spec", "template", "spec")
            if isinstance(pod, dict):
                yield Pod(f"replicated job {dig(job, 'name', default='?')}", pod, config_path(props))


def hardening_problems(pod: dict) -> list[str]:
    """What a pod spec lacks of the restricted profile, each as a phrase for a message."""
    problems: list[str] = []
    pod_context = as_dict(pod.get("securityContext"))
    all_containers = list(containers(pod))

    def either(field: str, container: dict):
        own = as_dict(container.get("securityContext")).get(field)
        return own if own is not None else pod_context.get(field)

    for container in all_containers:
        name = container.get("name")
        context = as_dict(container.get("securityContext"))
        non_root = either("runAsNonRoot", container)
        if _known(non_root) and non_root is not True:
            problems.append(f"container {name!r} may run as root (set runAsNonRoot: true)")
        user = either("runAsUser", container)
        if _known(user) and user is not None and user == 0:
            problems.append(f"container {name!r} runs as user 0")
        seccomp = dig(as_dict(either("seccompProfile", container)), "type")
        if _known(seccomp) and seccomp not in SECCOMP_TYPES:
            problems.append(f"container {name!r} has no seccompProfile RuntimeDefault")
        escalation = context.get("allowPrivilegeEscalation")
        if _known(escalation) and escalation is not False:
            problems.append(f"container {name!r} does not set allowPrivilegeEscalation: false")
        if context.get("privileged") is True:
            problems.append(f"container {name!r} is privileged")
        capabilities = as_dict(context.get("capabilities"))
        dropped = capabilities.get("drop")
        if _known(dropped) and "ALL" not in as_list(dropped):
            problems.append(f"container {name!r} does not drop ALL capabilities")
        added = [c for c in as_list(capabilities.get("add")) if c not in ALLOWED_CAPABILITIES]
        if added:
            problems.append(f"container {name!r} adds capabilities {', '.join(map(str, added))}")
    if not all_containers and not pod_context:
        problems.append("the pod has no securityContext")
    return problems


def _validate_pod_hardening(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = label(args.resource_type, args.name)
    resource_type, props = trial_of(args.resource_type, plain(args.props))  # an Experiment's trials' job
    if resource_type == TRAIN_JOB:
        pods = list(trainjob_patched_pods(props))
        if not pods:
            text = "its nodes get no securityContext; set it in a runtimePatches entry on the node job"
            report(verdict(config_path(props), f"{who} spec.runtimePatches", text))
        places = pods
    else:
        places = list(pod_specs(resource_type, props))
    for pod in places:
        problems = hardening_problems(pod.spec)
        if problems:
            text = (
                f"{'; '.join(problems)}. Pods run as non-root with seccomp RuntimeDefault, and containers with "
                "allowPrivilegeEscalation: false and capabilities drop [ALL] (Pod Security Standards, restricted)"
            )
            report(verdict(pod.path, f"{who} {pod.where}", text))


pod_hardening = ResourceValidationPolicy(
    name="pod-hardening",
    description="Every pod template runs as non-root with seccomp RuntimeDefault, no privilege escalation and "
    "every capability dropped (the Pod Security Standards' restricted profile).",
    validate=_validate_pod_hardening,
)

# ------------------------------------------------------------------ notebook single sign-on

NOTEBOOK = "kubernetes:kubeflow.org/v1:Notebook"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SSO_ANNOTATION = "mlplatform.io/sso-proxy"


def proxied_notebooks(props: dict) -> set[str]:
    """Notebooks an oauth2-proxy Deployment guards: `--provider=oidc`, an allow-list, `--upstream=http://<nb>.`."""
    guarded: set[str] = set()
    for pod in pod_specs(DEPLOYMENT, props):
        for container in containers(pod.spec):
            argv = [a for a in as_list(container.get("args")) if isinstance(a, str)]
            if "--provider=oidc" not in argv:
                continue
            if not any(a.startswith(("--allowed-group=", "--authenticated-emails-file=")) for a in argv):
                continue
            for arg in argv:
                if arg.startswith("--upstream=http://"):
                    guarded.add(arg.removeprefix("--upstream=http://").split(".", 1)[0].split(":", 1)[0])
    return guarded


def _validate_notebook_sso(args: StackValidationArgs, report: ReportViolation) -> None:
    guarded: set[str] = set()
    proxies_unknown = False
    for resource in args.resources:
        if resource.resource_type == DEPLOYMENT:
            props = plain(resource.props)
            guarded |= proxied_notebooks(props)
            proxies_unknown |= any(
                container.get("args") is UNKNOWN
                for pod in pod_specs(DEPLOYMENT, props)
                for container in containers(pod.spec)
            )
    for resource in args.resources:
        if resource.resource_type != NOTEBOOK or not is_prod(resource.urn):
            continue
        props = plain(resource.props)
        name = dig(props, "metadata", "name", default=resource.name)
        annotated = bool(dig(props, "metadata", "annotations", SSO_ANNOTATION))
        if name in guarded or (annotated and proxies_unknown):
            continue
        text = (
            "a prod notebook is reached only through single sign-on; configure notebookSso (an OIDC proxy limited "
            "to the notebook's allowedEmails / allowedGroups) for this stack"
        )
        report(verdict(config_path(props), f"Notebook {name}", text), resource.urn)


notebook_sso = StackValidationPolicy(
    name="notebook-sso",
    description="Prod notebooks sit behind an OIDC proxy (oauth2-proxy) that admits only their own users or groups.",
    validate=_validate_notebook_sso,
)
