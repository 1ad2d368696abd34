"""How the platform installs a chart: pinned, atomic, with time for image pulls; and the namespace it goes into."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

# Annotates an object Helm leaves in the cluster when it uninstalls the release (Helm, "Chart Development Tips and
# Tricks": "Tell Helm Not To Uninstall a Resource"); for the CRDs of charts whose values can annotate them.
HELM_KEEP = {"helm.sh/resource-policy": "keep"}
# Helm's own default is 300 s; a first install pulls every image, possibly through a far registry or a mirror.
HELM_TIMEOUT_SECONDS = 900


def pinned_release(
    resource_name: str,
    release: str,
    chart: str,
    version: str,
    namespace: pulumi.Input[str],
    values: dict,
    parent: pulumi.Resource,
    repo: str | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
    aliases: Sequence[pulumi.Input[str]] = (),
    retain_on_delete: bool = False,
    skip_crds: bool = False,
) -> k8s.helm.v3.Release:
    """A chart at a pinned version (from a repository, or an `oci://` reference Helm pulls itself), rolled back
    whole if it does not become ready within HELM_TIMEOUT_SECONDS (atomic); `aliases`: the URNs it had before it
    moved.

    `retain_on_delete`: a chart whose CRDs are templates and which cannot annotate them `helm.sh/resource-policy: keep`.
    Uninstalling it would delete the CRDs, and with them every custom resource of their kinds in the cluster,
    other users' too (Helm, "Custom Resource Definitions" best practices): the release is retained on delete
    instead, left installed when the stack stops using it (docs/operations.md: `pulumi import` it to use it again).
    `skip_crds`: the chart's `crds/` folder is not installed (a release of its CRD chart installs them)."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart,
        version=version,
        namespace=namespace,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo) if repo else None,
        values=values,
        atomic=True,
        timeout=HELM_TIMEOUT_SECONDS,
        skip_crds=skip_crds or None,
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=list(depends_on), aliases=list(aliases), retain_on_delete=retain_on_delete or None
        ),
    )


def namespace(
    resource_name: str, name: str, parent: pulumi.Resource, aliases: Sequence[pulumi.Input[str]] = ()
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )
