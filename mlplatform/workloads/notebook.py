"""A Jupyter notebook for a user or a team: a Kubeflow `Notebook` with a workspace volume and its own login token.

Kubeflow's notebook images start JupyterLab with `--ServerApp.token=""` because Kubeflow's Istio gateway and auth
proxy authenticate users in front of them. This platform has no such gateway, so the image's s6 service script
(`/etc/services.d/jupyterlab/run`) is replaced by one that leaves Jupyter's token auth on; the token is a random
password per notebook, kept in a Secret and read by Jupyter from `JUPYTER_TOKEN` (never on a command line).
The notebook is reachable only through `kubectl port-forward` unless the config sets `expose: true`, which gives
it (behind `notebookSso`: its proxy, with HTTPS) an internal load balancer, or an internet-facing one with
`public: true` (`addresses.py`).
The workspace claim is retained on delete, and its disk's class retains the disk (`infra/workspace.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlplatform import config
from mlplatform.conventions import DISK_STORAGE_CLASS, config_path_annotation
from mlplatform.workloads.addresses import LoadBalancer, load_balancer_address
from mlplatform.workloads.identity import pod_identity
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, harden_pod, service_account
from mlplatform.workloads.sso import SSO_ANNOTATION, NotebookSso, NotebookSsoArgs, SsoClient
from mlplatform.workloads.volumes import BucketStorage, BucketVolume, BucketVolumeArgs

API_VERSION = "kubeflow.org/v1"
HOME = "/home/jovyan"
# The port Kubeflow notebook images serve on and the notebook controller's Service forwards to.
JUPYTER_PORT = 8888
SERVICE_PORT = 80
RUN_SCRIPT_PATH = "/etc/services.d/jupyterlab/run"
# JupyterLab as the image's own script starts it, minus the flags that switch authentication off and allow any
# origin. Without `--ServerApp.token`, Jupyter takes its token from JUPYTER_TOKEN.
RUN_SCRIPT = """#!/command/with-contenv bash
# Rendered by ml-platform: token authentication stays on (the token comes from JUPYTER_TOKEN).
export JUPYTER_RUNTIME_DIR=/tmp/jupyter_runtime
cd "${HOME}"
exec jupyter lab --notebook-dir="${HOME}" --ip=0.0.0.0 --port=8888 --no-browser \\
  --ServerApp.base_url="${NB_PREFIX}"
"""
EXECUTABLE = 0o755


@dataclass(frozen=True)
class NotebookArgs:
    """The component's name is the notebook's Kubernetes name."""

    notebook: config.Notebook
    namespace: pulumi.Input[str]
    # The datasets bucket, read-only at ~/datasets, and the notebook's own prefix of it (`notebooks/<name>/`),
    # read-write at ~/bucket; reached through workload identity (identity.py), never keys.
    storage: BucketStorage
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    # Single sign-on (the stack's `notebookSso`): an oauth2-proxy in front of the notebook, which the URL goes through.
    sso: SsoClient | None = None
    # What must exist before the Notebook is created: the notebook controller, the namespace.
    depends_on: Sequence[pulumi.Resource] = ()


class Notebook(pulumi.ComponentResource):
    """Outputs the secret `token`, the notebook's `url` and the `kubectl port-forward` command that reaches it."""

    token: pulumi.Output[str]
    url: pulumi.Output[str]
    port_forward: pulumi.Output[str]

    def __init__(self, name: str, args: NotebookArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:notebook:Notebook", name, None, opts)
        notebook = args.notebook
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-token", length=32, special=False, opts=child)
        self.token = pulumi.Output.secret(password.result)
        token_secret = k8s.core.v1.Secret(
            f"{name}-token",
            metadata={"name": f"{name}-jupyter-token", "namespace": args.namespace},
            type="Opaque",
            string_data={"token": self.token},
            opts=child,
        )
        run_script = k8s.core.v1.ConfigMap(
            f"{name}-jupyter",
            metadata={"name": f"{name}-jupyter", "namespace": args.namespace},
            data={"run": RUN_SCRIPT},
            opts=child,
        )
        workspace = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-workspace",
            metadata={"name": f"{name}-workspace", "namespace": args.namespace},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": DISK_STORAGE_CLASS,
                "resources": {"requests": {"storage": notebook.volume_size}},
            },
            # The user's home outlives the notebook: renaming, removing or moving the notebook to another team
            # leaves the claim (and its disk, which the class retains: infra/workspace.py) in the cluster,
            # to be reattached or deleted by hand (docs/operations.md).
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        datasets = BucketVolume(
            f"{name}-datasets",
            BucketVolumeArgs(
                args.storage,
                args.storage.datasets_bucket,
                "",
                args.namespace,
                writable=False,
                purpose="notebook",
                service_accounts=(name,),
            ),
            opts=child,
        )
        own = BucketVolume(
            f"{name}-bucket",
            BucketVolumeArgs(
                args.storage,
                args.storage.datasets_bucket,
                f"notebooks/{name}/",
                args.namespace,
                writable=True,
                purpose="notebook",
                service_accounts=(name,),
            ),
            opts=child,
        )
        identity = pod_identity(name, args.namespace, name, [datasets.grant, own.grant], args.storage.identity, self)
        where = placement(notebook.resources, args.gpu)
        self.service_account, account_name = service_account(name, args.namespace, parent=self)
        container = {
            "name": name,
            "image": notebook.image,
            "env": [
                {
                    "name": "JUPYTER_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": token_secret.metadata.name, "key": "token"}},
                }
            ],
            "resources": where.resources,
            "volumeMounts": [
                {"name": "workspace", "mountPath": HOME},
                {"name": "jupyter-run", "mountPath": RUN_SCRIPT_PATH, "subPath": "run", "readOnly": True},
                datasets.mount("datasets", f"{HOME}/datasets"),
                own.mount("bucket", f"{HOME}/bucket"),
            ],
        }
        volumes = [
            {"name": "workspace", "persistentVolumeClaim": {"claimName": workspace.metadata.name}},
            datasets.pod_volume("datasets"),
            own.pod_volume("bucket"),
            {"name": "jupyter-run", "configMap": {"name": run_script.metadata.name, "defaultMode": EXECUTABLE}},
        ]
        k8s.apiextensions.CustomResource(
            f"{name}-notebook",
            api_version=API_VERSION,
            kind="Notebook",
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": {"app": name},
                # Read by the platform's policy: a notebook outside the cluster is a deliberate choice.
                # Behind SSO the proxy is what is exposed; the notebook's own Service stays in the cluster.
                "annotations": {
                    **config_path_annotation("notebooks", name),
                    "mlplatform.io/expose": "true" if notebook.expose and not args.sso else "false",
                    **({SSO_ANNOTATION: f"{name}-sso"} if args.sso else {}),
                },
            },
            spec={
                "template": {
                    "spec": harden_pod(
                        {"containers": [container], "volumes": volumes, **where.pod_fields()},
                        RUN_AS["notebook"].with_user(notebook.run_as_user),
                        account_name,
                    )
                }
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, datasets, own, *identity, self.service_account]
            ),
        )
        path = pulumi.Output.concat("/notebook/", args.namespace, "/", name, "/")
        # The notebook controller creates a ClusterIP Service named after the notebook (port 80 -> 8888).
        self.port_forward = pulumi.Output.concat(
            "kubectl -n ", args.namespace, f" port-forward svc/{name} {JUPYTER_PORT}:{SERVICE_PORT}"
        )
        # The stack's cloud, whose controller reads the load balancer's annotations.
        cloud = args.storage.identity.cloud
        self.sso = None
        if args.sso:
            self.sso = NotebookSso(
                f"{name}-sso",
                NotebookSsoArgs(
                    notebook=name,
                    namespace=args.namespace,
                    client=args.sso,
                    allowed_emails=tuple(notebook.allowed_emails),
                    allowed_groups=tuple(notebook.allowed_groups),
                    load_balancer=LoadBalancer(cloud, notebook.public, args.sso.tls_certificate)
                    if notebook.expose
                    else None,
                    path=path,
                    depends_on=list(args.depends_on),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.url = self.sso.url
        elif notebook.expose:
            load_balancer = LoadBalancer(cloud, notebook.public)
            self.url = pulumi.Output.concat("http://", self._load_balancer(name, args.namespace, load_balancer), path)
        else:
            self.url = pulumi.Output.concat(f"http://localhost:{JUPYTER_PORT}", path)
        self.register_outputs({"token": self.token, "url": self.url, "portForward": self.port_forward})

    def _load_balancer(
        self, name: str, namespace: pulumi.Input[str], load_balancer: LoadBalancer
    ) -> pulumi.Output[str]:
        """A LoadBalancer Service in front of the notebook's pod; returns its address once the cloud assigns it."""
        service = k8s.core.v1.Service(
            f"{name}-public",
            metadata={
                "name": f"{name}-public",
                "namespace": namespace,
                "labels": {"app": name},
                "annotations": {**config_path_annotation("notebooks", name), **load_balancer.annotations},
            },
            spec={
                "type": "LoadBalancer",
                # The notebook controller labels the notebook's pod with its name.
                "selector": {"notebook-name": name},
                "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": JUPYTER_PORT, "protocol": "TCP"}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        return service.status.apply(load_balancer_address)
