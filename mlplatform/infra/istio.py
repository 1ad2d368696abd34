"""Istio's control plane (`base`, `istiod`) in `istio-system`: one install per cluster, whoever needs it.

Seldon's istio ingress (its `gateway` release and Gateway stay with `mlplatform/infra/operators.py`) and KServe
(istiod serves the `istio` GatewayClass and deploys a proxy for each Gateway, `mlplatform/infra/kserve.py`) both
run on it. One component owns the Namespace and both releases, so switching Seldon's ingress or adding the first
KServe serving changes no owner: before, KServe and the Operators each installed their own copy, and moving
`istio-system` from one to the other created the new objects before deleting the old (AlreadyExists, Helm's
"cannot re-use a name that is still in use") and the old owner's delete removed the Namespace.

Stacks deployed before this component have those objects under the component that installed them. The children
carry `aliases` naming each former URN (`FORMER_NAMES`: the KServe component's `<kserve>-istio-system-ns`,
`<kserve>-istio-base`, `<kserve>-istiod`; the Operators' `<operators>-istio-system`, `<operators>-istio-base`,
`<operators>-istio-istiod`), so the engine adopts their state instead of replacing them (Pulumi, "Aliases":
https://www.pulumi.com/docs/iac/concepts/resources/options/aliases/; an alias whose URN is not in the state
matches nothing).

The charts are Istio's, at `pins.ISTIO` (one version for `base`, `istiod` and Seldon's `gateway`); with
`operators.imageRegistry`, istiod's images come through the mirror (`global.hub`, the 1.31 charts' image hub;
`mlplatform/images.py` ISTIOD), and with them the proxies it injects into every gateway. `base` runs no image.
istiod watches the Gateway API kinds through delayed informers (`pkg/kube/kclient/delayed.go`), so it serves the
Gateway API CRDs KServe applies after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from mlplatform import images, pins
from mlplatform.infra import helm

ISTIO_NAMESPACE = "istio-system"
KSERVE_TYPE = "mlplatform:kserve:KServe"
OPERATORS_TYPE = "mlplatform:operators:Operators"
CHILD_TYPES = {
    "namespace": "kubernetes:core/v1:Namespace",
    "base": "kubernetes:helm.sh/v3:Release",
    "istiod": "kubernetes:helm.sh/v3:Release",
}

# Child -> (former parent's type token, the child's name with `{parent}` for the former parent's name).
FORMER_NAMES: Mapping[str, Sequence[tuple[str, str]]] = {
    "namespace": ((KSERVE_TYPE, "{parent}-istio-system-ns"), (OPERATORS_TYPE, "{parent}-istio-system")),
    "base": ((KSERVE_TYPE, "{parent}-istio-base"), (OPERATORS_TYPE, "{parent}-istio-base")),
    "istiod": ((KSERVE_TYPE, "{parent}-istiod"), (OPERATORS_TYPE, "{parent}-istio-istiod")),
}


@dataclass(frozen=True)
class IstioArgs:
    # The registry every image is pulled through (`operators.imageRegistry`); None: the charts' own.
    image_registry: str | None = None
    # The names of the components that installed Istio before this one (type token -> resource name), whose
    # children the aliases name: e.g. {"mlplatform:kserve:KServe": "prod-kserve"}.
    former_owners: Mapping[str, str] = field(default_factory=dict)


def former_urns(former_owners: Mapping[str, str], child: str) -> list[pulumi.Output[str]]:
    """The URNs `child` ("namespace", "base", "istiod") had under each former owner, a top-level component."""
    urns = []
    for owner_type, name in FORMER_NAMES[child]:
        if owner := former_owners.get(owner_type):
            parent = pulumi.create_urn(owner, owner_type)
            urns.append(pulumi.create_urn(name.format(parent=owner), CHILD_TYPES[child], parent))
    return urns


class Istio(pulumi.ComponentResource):
    """Output `ready`: the Namespace and both releases, for what runs on Istio to depend on."""

    def __init__(self, name: str, args: IstioArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:istio:Istio", name, None, opts)
        owners = args.former_owners
        namespace = helm.namespace(f"{name}-namespace", ISTIO_NAMESPACE, self, former_urns(owners, "namespace"))
        version, repo, namespace_name = pins.ISTIO.version, pins.ISTIO.repo, namespace.metadata.name
        base = helm.pinned_release(
            f"{name}-base",
            "istio-base",
            "base",
            version,
            namespace_name,
            {},
            self,
            repo,
            aliases=former_urns(owners, "base"),
        )
        istiod_values = images.mirror_values(images.ISTIOD, args.image_registry)
        istiod = helm.pinned_release(
            f"{name}-istiod",
            "istiod",
            "istiod",
            version,
            namespace_name,
            istiod_values,
            self,
            repo,
            [base],
            aliases=former_urns(owners, "istiod"),
        )
        self.ready: list[pulumi.Resource] = [namespace, base, istiod]
        self.register_outputs({"namespace": namespace_name, "version": version})
