"""The namespaces ML workloads run in, each with the bucket credentials its workloads mount or fetch with.

Seldon's storage initializer reads `envSecretRefName` from the SeldonDeployment's own namespace, and
CSI volumes read their secret from the volume's namespace, so every workload namespace gets a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform.conventions import STORAGE_SECRET


@dataclass(frozen=True)
class WorkspaceArgs:
    namespaces: list[str]
    # Secret entries (env-style keys); values may be secret Outputs and stay secret.
    storage_credentials: dict[str, pulumi.Input[str]]
    labels: dict[str, str] | None = None


class Workspace(pulumi.ComponentResource):
    """`namespaces`: name -> Namespace resource; the storage Secret is named `STORAGE_SECRET` in each."""

    def __init__(self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:workspace:Workspace", name, None, opts)
        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        for namespace in args.namespaces:
            resource = k8s.core.v1.Namespace(
                f"{name}-{namespace}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=args.labels),
                opts=pulumi.ResourceOptions(parent=self),
            )
            k8s.core.v1.Secret(
                f"{name}-{namespace}-{STORAGE_SECRET}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_SECRET, namespace=resource.metadata.name),
                type="Opaque",
                string_data={key: pulumi.Output.secret(value) for key, value in args.storage_credentials.items()},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.namespaces[namespace] = resource
        self.register_outputs({"namespaces": list(self.namespaces)})
