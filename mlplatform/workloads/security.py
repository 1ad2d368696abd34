"""Pod hardening shared by every workload the platform renders: security contexts and service accounts.

The fields are those of the Kubernetes Pod Security Standards, `restricted` profile
(kubernetes.io/docs/concepts/security/pod-security-standards/, "Restricted"): `runAsNonRoot: true`,
`seccompProfile.type: RuntimeDefault` (set once on the pod, which covers every container, also the ones an
operator injects), and on each container `allowPrivilegeEscalation: false` and `capabilities.drop: [ALL]`
(which drops NET_RAW; the profile allows adding back only NET_BIND_SERVICE, we add nothing).
`readOnlyRootFilesystem` is not part of the profile; it is set where we know the image writes nothing outside
its volumes (oauth2-proxy), and left off for user images.

The user a pod runs as, by workload kind (`RUN_AS`); config may override the user with `runAsUser` where an
image needs another UID:
- Seldon: 8888, the operator chart's `defaultUserID` and `executor.user` (seldon-core v1.17.1
  `helm-charts/seldon-core-operator/values.yaml`) and the `USER` of its rclone storage initializer
  (`components/rclone-storage-initializer/Dockerfile`). The operator gives its executor container
  `{runAsUser: executor.user, allowPrivilegeEscalation: false}` (`operator/controllers/seldondeployment_engine.go`
  createEngineContainer) and its storage initializer no securityContext (`model_initializer_injector.go`): neither
  drops capabilities, so a Seldon namespace can be PSA `baseline`, not `restricted` (docs/cloud-rules.md).
- Notebooks: user 1000, the `jovyan` user of Kubeflow's notebook images (`ENV NB_UID 1000`, kubeflow/notebooks
  v1.11.0 `components/example-notebook-servers/base/Dockerfile`), group and fsGroup 100, the fsGroup the notebook
  controller itself adds (`DefaultFSGroup`, `components/notebook-controller/controllers/notebook_controller.go`).
- Training, KServe, web services: 1000. Images that run as root by default (TensorFlow Serving, most
  training images) run as 1000 and write only to their mounted volumes (fsGroup makes those writable).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class RunAs:
    """The numeric user, group and volume group (fsGroup) of a pod."""

    user: int
    group: int
    fs_group: int

    def with_user(self, user: int | None) -> RunAs:
        """The config's `runAsUser` replaces the user (and the group, unless the kind's differs from its user)."""
        if user is None:
            return self
        group = user if self.group == self.user else self.group
        fs_group = user if self.fs_group == self.user else self.fs_group
        return RunAs(user, group, fs_group)


RUN_AS = {
    "seldon": RunAs(8888, 8888, 8888),
    "notebook": RunAs(1000, 100, 100),
    "training": RunAs(1000, 1000, 1000),
    "kserve": RunAs(1000, 1000, 1000),
    "webservice": RunAs(1000, 1000, 1000),
    # The oauth2-proxy chart's securityContext (oauth2-proxy/manifests helm/oauth2-proxy/values.yaml, 10.7.0).
    "sso-proxy": RunAs(2000, 2000, 2000),
}


def pod_security_context(run_as: RunAs) -> dict:
    """The pod's securityContext: non-root numeric user and groups, the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as.user,
        "runAsGroup": run_as.group,
        "fsGroup": run_as.fs_group,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(read_only_root: bool = False) -> dict:
    """A container's securityContext: no privilege escalation, every capability dropped (NET_RAW too)."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
    }


def harden_container(container: dict, read_only_root: bool = False) -> dict:
    """`container` with the hardened securityContext (a copy)."""
    return {**container, "securityContext": container_security_context(read_only_root)}


def harden_pod(
    pod: dict,
    run_as: RunAs,
    service_account: pulumi.Input[str],
    read_only_root: bool = False,
    automount_token: bool | None = False,
) -> dict:
    """A pod spec with the pod and container security contexts and its own service account (a copy): every pod
    runs as its workload's account, the one its cloud identity is bound to (the MPI launcher too).

    `automount_token` True mounts the account's API token (the MPI launcher's `kubectl exec`); None leaves
    `automountServiceAccountToken` out (a schema without it: TrainJob patches).
    """
    hardened = {
        **pod,
        "securityContext": pod_security_context(run_as),
        "containers": [harden_container(c, read_only_root) for c in pod.get("containers", [])],
    }
    if "initContainers" in pod:
        hardened["initContainers"] = [harden_container(c, read_only_root) for c in pod["initContainers"]]
    hardened["serviceAccountName"] = service_account
    if automount_token is not None:
        hardened["automountServiceAccountToken"] = automount_token
    return hardened


def http_probes(port: int | str, path: str | None = None) -> dict:
    """Readiness and liveness probes on a container port: HTTP GET `path`, or a TCP connect without one."""
    action = {"httpGet": {"path": path, "port": port}} if path else {"tcpSocket": {"port": port}}
    return {
        "readinessProbe": {**action, "periodSeconds": 10, "failureThreshold": 3},
        "livenessProbe": {**action, "initialDelaySeconds": 30, "periodSeconds": 20, "failureThreshold": 3},
    }


def service_account(
    name: str,
    namespace: pulumi.Input[str],
    parent: pulumi.Resource,
    annotations: dict[str, pulumi.Input[str]] | None = None,
    secrets: list[pulumi.Input[str]] | None = None,
    automount: bool = False,
    resource_name: str | None = None,
) -> tuple[k8s.core.v1.ServiceAccount, pulumi.Output[str]]:
    """A workload's own ServiceAccount `name` in `namespace` (token automount off: no workload calls the API).

    `annotations` carry cloud identity (RRSA role ARN, IRSA `eks.amazonaws.com/role-arn`); `secrets` the
    Secrets a controller reads from the account (KServe's S3 credentials). Returns the resource and its name.
    """
    account = k8s.core.v1.ServiceAccount(
        resource_name or f"{name}-serviceaccount",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            annotations=annotations or None,
            labels={"app.kubernetes.io/part-of": "ml-platform"},
        ),
        automount_service_account_token=automount,
        secrets=[k8s.core.v1.ObjectReferenceArgs(name=secret) for secret in secrets] if secrets else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return account, account.metadata.name
