"""Policies on what runs in the cluster: training jobs, servings, notebooks and web services."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from pulumi_policy import PolicyConfigSchema, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from mlpolicies.props import (
    SELDON_DEPLOYMENT,
    UNKNOWN,
    as_dict,
    as_list,
    config_path,
    containers,
    dig,
    label,
    plain,
    pod_specs,
    setting,
    string_list,
    verdict,
    within,
)

# ------------------------------------------------------------------ 2. images pinned

IMAGES_SCHEMA = {
    "forbiddenTags": string_list(["latest"], "Tags that move and so do not pin an image."),
}


def unpinned_reason(image: str, forbidden_tags: list[str]) -> str | None:
    """Why `image` is not pinned, or None when it names a fixed tag or a digest."""
    if "@sha256:" in image:
        return None
    last_part = image.rsplit("/", 1)[-1]
    if ":" not in last_part:
        return "has no tag, so it runs whatever `latest` is"
    tag = last_part.rsplit(":", 1)[1]
    if tag in forbidden_tags:
        return f"uses the moving tag {tag!r}"
    return None


def _validate_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    forbidden = setting(args.get_config(), IMAGES_SCHEMA, "forbiddenTags")
    for pod in pod_specs(args.resource_type, props):
        for container in containers(pod.spec):
            image = container.get("image")
            if not isinstance(image, str):
                continue
            reason = unpinned_reason(image, forbidden)
            if reason:
                report(
                    verdict(
                        within(pod.path, "image"),
                        f"{label(args.resource_type, args.name)} {pod.where} container {container.get('name')!r}",
                        f"image {image!r} {reason}; pin it to a release tag "
                        f"(e.g. {image.split('@')[0].rsplit(':', 1)[0]}:v1.2.3) or an @sha256 digest",
                    )
                )


images_pinned = ResourceValidationPolicy(
    name="images-pinned",
    description="Training, serving and notebook images are pinned to a version tag or a digest.",
    validate=_validate_images,
    config_schema=PolicyConfigSchema(IMAGES_SCHEMA),
)

# ------------------------------------------------------------------ 3. container resources

RESOURCES_SCHEMA = {
    "gpuResourceNames": string_list(
        ["nvidia.com/gpu", "aliyun.com/gpu-mem", "aliyun.com/gpu-count"],
        "Extended resources that are GPUs (whole or shared).",
    ),
    "gpuTaintKeys": string_list(
        ["nvidia.com/gpu"], "Taint keys of GPU node pools; a GPU pod must tolerate one of them."
    ),
    "gpuNodeLabels": string_list(
        ["mlplatform.io/accelerator", "ack.node.gpu.schedule", "nvidia.com/gpu.present"],
        "Node label keys of GPU node pools; a GPU pod must select one of them.",
    ),
}
CPU_AND_MEMORY = ("cpu", "memory")


def _quantity(value) -> str | None:
    """Quantities compare as text; the wire turns `1` into 1.0."""
    if value is None or value is UNKNOWN:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _container_problems(container: dict, gpu_names: list[str]) -> Iterator[str]:
    resources = container.get("resources")
    if resources is UNKNOWN:
        return
    requests, limits = as_dict(dig(resources, "requests")), as_dict(dig(resources, "limits"))
    missing = [
        f"{kind}.{name}"
        for kind, values in (("requests", requests), ("limits", limits))
        for name in CPU_AND_MEMORY
        if values.get(name) is None
    ]
    if missing:
        yield f"has no {', '.join(missing)}"
    for gpu in gpu_names:
        request, limit = _quantity(requests.get(gpu)), _quantity(limits.get(gpu))
        if request is not None and limit is None:
            yield f"requests {gpu}: {request} without a limit"
        elif request is not None and request != limit:
            yield f"requests {gpu}: {request} but limits it to {limit}"


def wants_gpu(container: dict, gpu_names: list[str]) -> bool:
    resources = as_dict(container.get("resources"))
    return any(gpu in as_dict(resources.get(kind)) for kind in ("requests", "limits") for gpu in gpu_names)


def _tolerates_gpu(spec: dict, taint_keys: list[str]) -> bool:
    for toleration in as_list(spec.get("tolerations")):
        key = dig(toleration, "key")
        if key in taint_keys or (key is None and dig(toleration, "operator") == "Exists"):
            return True
    return False


def _selects_gpu_nodes(spec: dict, label_keys: list[str]) -> bool:
    if any(key in label_keys for key in as_dict(spec.get("nodeSelector"))):
        return True
    terms = dig(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    return any(
        dig(expression, "key") in label_keys
        for term in as_list(terms)
        for expression in as_list(dig(term, "matchExpressions"))
    )


def _prepackaged_servers(props: dict) -> Iterator[tuple[str, str, dict]]:
    """(predictor, graph node, predictor) for each Seldon graph node that runs a prepackaged model server."""
    for predictor in as_list(dig(props, "spec", "predictors")):
        pending = [dig(predictor, "graph")]
        while pending:
            node = pending.pop()
            if not isinstance(node, dict):
                continue
            if isinstance(node.get("implementation"), str):
                yield str(dig(predictor, "name")), str(node.get("name")), predictor
            pending.extend(as_list(node.get("children")))


def _validate_resources(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    config = args.get_config()
    gpu_names = setting(config, RESOURCES_SCHEMA, "gpuResourceNames")
    who = label(args.resource_type, args.name)
    for pod in pod_specs(args.resource_type, props):
        pod_wants_gpu = False
        for container in containers(pod.spec):
            pod_wants_gpu = pod_wants_gpu or wants_gpu(container, gpu_names)
            for problem in _container_problems(container, gpu_names):
                report(
                    verdict(
                        pod.resources,
                        f"{who} {pod.where} container {container.get('name')!r} resources",
                        f"the container {problem}; give it cpu and memory requests and limits, and GPU limits "
                        "equal to its GPU requests",
                    )
                )
        if not pod_wants_gpu:
            continue
        rendered = f"{who} {pod.where}"
        if not _tolerates_gpu(pod.spec, setting(config, RESOURCES_SCHEMA, "gpuTaintKeys")):
            keys = ", ".join(setting(config, RESOURCES_SCHEMA, "gpuTaintKeys"))
            text = f"asks for a GPU but its pod does not tolerate the GPU pool taint ({keys}); add a toleration"
            report(verdict(pod.resources, rendered, text))
        if not _selects_gpu_nodes(pod.spec, setting(config, RESOURCES_SCHEMA, "gpuNodeLabels")):
            keys = ", ".join(setting(config, RESOURCES_SCHEMA, "gpuNodeLabels"))
            text = (
                "asks for a GPU but its pod does not select GPU nodes; add a nodeSelector (or required node "
                f"affinity) on one of the GPU pool labels ({keys})"
            )
            report(verdict(pod.resources, rendered, text))
    if args.resource_type == SELDON_DEPLOYMENT:
        for predictor_name, node, predictor in _prepackaged_servers(props):
            declared = [
                container
                for component in as_list(dig(predictor, "componentSpecs"))
                for container in as_list(dig(component, "spec", "containers"))
                if dig(container, "name") == node
            ]
            if not declared:
                report(
                    verdict(
                        within(config_path(predictor), "resources"),
                        f"{who} predictor {predictor_name} componentSpecs",
                        f"the prepackaged server {node!r} runs without resources; give it cpu and memory requests "
                        f"and limits (a componentSpecs container named {node!r})",
                    )
                )


container_resources = ResourceValidationPolicy(
    name="container-resources",
    description="Containers set CPU and memory requests and limits; GPU pods request GPUs as limits and "
    "land on a GPU pool.",
    validate=_validate_resources,
    config_schema=PolicyConfigSchema(RESOURCES_SCHEMA),
)

# ------------------------------------------------------------------ 7. notebook access

NOTEBOOK = "kubernetes:kubeflow.org/v1:Notebook"
SERVICE = "kubernetes:core/v1:Service"
EXPOSE_ANNOTATION = "mlplatform.io/expose"
# The Kubeflow notebook controller labels a notebook's pods with it.
NOTEBOOK_POD_LABEL = "notebook-name"
_AUTH_FLAG = re.compile(r"^--(NotebookApp|ServerApp|IdentityProvider|PasswordIdentityProvider)\.(token|password)$")
_EMPTY = ("", "''", '""')
AUTH_ENV = ("JUPYTER_TOKEN", "JUPYTER_PASSWORD")


def _argv(container: dict) -> list[str]:
    """command + args as words, shell strings (`sh -c "jupyter lab --ServerApp.token=''"`) split like a shell."""
    words: list[str] = []
    for part in as_list(container.get("command")) + as_list(container.get("args")):
        if not isinstance(part, str):
            continue
        try:
            words.extend(shlex.split(part) if " " in part else [part])
        except ValueError:
            words.append(part)
    return words


def disabled_auth_flags(container: dict) -> list[str]:
    """Jupyter flags in the container's command line that set an empty token or password."""
    words = _argv(container)
    found = []
    for index, word in enumerate(words):
        flag, has_value, value = word.partition("=")
        if not _AUTH_FLAG.match(flag):
            continue
        if has_value and value in _EMPTY:
            found.append(word)
        elif not has_value and index + 1 < len(words) and words[index + 1] in _EMPTY:
            found.append(f"{flag} ''")
    for env in as_list(container.get("env")):
        if dig(env, "name") in AUTH_ENV and "value" in env and env.get("value") in _EMPTY:
            found.append(f"env {env['name']}=''")
    return found


def _validate_notebook_access(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    path = config_path(props)
    # What a notebook's `expose` leads to without notebookSso, and what it should be instead.
    behind = "notebooks are reached through the Kubeflow dashboard, `kubectl port-forward` or notebookSso"
    if args.resource_type == NOTEBOOK:
        for pod in pod_specs(args.resource_type, props):
            for container in containers(pod.spec):
                flags = disabled_auth_flags(container)
                if flags:
                    report(
                        verdict(
                            pod.path,
                            f"{who} container {container.get('name')!r}",
                            f"the notebook turns Jupyter authentication off ({', '.join(flags)}); remove these so "
                            "the server keeps its token or password",
                        )
                    )
        if str(dig(props, "metadata", "annotations", EXPOSE_ANNOTATION)).lower() == "true":
            rendered = f"{who} annotation {EXPOSE_ANNOTATION}: 'true'"
            report(verdict(within(path, "expose"), rendered, f"{behind}; turn expose off or configure notebookSso"))
    elif args.resource_type == SERVICE:
        service_type = dig(props, "spec", "type")
        if service_type in ("LoadBalancer", "NodePort") and NOTEBOOK_POD_LABEL in as_dict(
            dig(props, "spec", "selector")
        ):
            notebook = dig(props, "spec", "selector", NOTEBOOK_POD_LABEL)
            text = f"a {service_type} service exposes notebook {notebook!r}; {behind}: turn expose off or configure notebookSso"
            report(verdict(within(path, "expose"), f"{who} type {service_type}", text))


notebook_access = ResourceValidationPolicy(
    name="notebook-access",
    description="Notebooks keep Jupyter authentication on and are not exposed outside the cluster.",
    validate=_validate_notebook_access,
)

# ------------------------------------------------------------------ 11. no plaintext secrets

SECRETS_SCHEMA = {
    "credentialNamePattern": {
        "type": "string",
        "default": r"(?i)(^|[_.-])(secret|password|passwd|token|access[_-]?key(_id)?|secret[_-]?key|private[_-]?key"
        r"|api[_-]?key|credentials?|kubeconfig)([_.-]|$)",
        "description": "Environment variable and ConfigMap key names that hold credentials.",
    },
}
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
KUBE_SECRET = "kubernetes:core/v1:Secret"
# Where credentials belong: a Kubernetes Secret's data (the Kubernetes SDK always marks it secret) and the
# kubeconfig of a Kubernetes provider (the stack passes the cluster's secret kubeconfig Output).
CREDENTIAL_HOMES = {KUBE_SECRET: ("data", "stringData"), "pulumi:providers:kubernetes": ("kubeconfig",)}
_CREDENTIAL_TEXT = re.compile(
    r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----|client-key-data:\s*\S|(^|\n)\s*token:\s*[A-Za-z0-9._-]{16,}"
)


def _credential_texts(node, path: str) -> Iterator[str]:
    """Paths of strings that carry a private key or a kubeconfig credential."""
    if isinstance(node, str) and _CREDENTIAL_TEXT.search(node):
        yield path or "(value)"
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _credential_texts(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _credential_texts(value, f"{path}[{index}]")


def _validate_plaintext_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    who = label(args.resource_type, args.name)
    credential_name = re.compile(setting(args.get_config(), SECRETS_SCHEMA, "credentialNamePattern"))
    for pod in pod_specs(args.resource_type, props):
        for container in containers(pod.spec):
            for env in as_list(container.get("env")):
                name, value = dig(env, "name"), dig(env, "value")
                if isinstance(name, str) and credential_name.search(name) and value not in (None, "", UNKNOWN):
                    report(
                        verdict(
                            within(pod.path, f"env.{name}"),
                            f"{who} {pod.where} container {container.get('name')!r} env {name}",
                            "a credential in a plain env value; remove it: workloads reach the cloud through their "
                            "own identity, and other credentials come from a Kubernetes Secret "
                            "(env.valueFrom.secretKeyRef or envFrom.secretRef)",
                        )
                    )
    if args.resource_type == CONFIG_MAP:
        for key in as_dict(props.get("data")):
            if credential_name.search(key):
                report(f"{who}: key {key!r} looks like a credential in a ConfigMap; move it to a Kubernetes Secret.")
    homes = CREDENTIAL_HOMES.get(args.resource_type, ())
    checked = {key: value for key, value in props.items() if key not in homes}
    for path in _credential_texts(checked, ""):
        report(
            f"{who}: {path} holds a private key or kubeconfig credential in plain text; keep it in a Kubernetes "
            "Secret or a Pulumi secret (pulumi.Output.secret / `pulumi config set --secret`)."
        )


no_plaintext_secrets = ResourceValidationPolicy(
    name="no-plaintext-secrets",
    description="Credentials (storage keys, tokens, kubeconfigs, private keys) never sit in plain text in "
    "resource inputs.",
    validate=_validate_plaintext_secrets,
    config_schema=PolicyConfigSchema(SECRETS_SCHEMA),
)
