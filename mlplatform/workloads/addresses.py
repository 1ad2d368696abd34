"""Load balancers of the workloads, in one place for every component: what a LoadBalancer Service asks the
cloud for (`load_balancer_annotations`) and the address the cloud gives it back (`load_balancer_address`).

`expose: true` gives a workload an internal load balancer, reachable from the VPC (and what is peered or
VPN'd to it), never from the internet: the annotation each cloud's own controller reads (`rules.py`,
`INTERNAL_LOAD_BALANCER`). Only `public: true` beside `expose` leaves it off, and the pack's
`prod-private-endpoints` policy refuses such a Service in prod.

HTTPS at the load balancer, for a Service whose users hold `Secure` cookies (the SSO proxies), with a
certificate the cloud keeps (the private key never enters the cluster); the pods keep serving plain HTTP:
- EKS (kubernetes/cloud-provider-aws v1.36.1 `pkg/providers/v1/aws.go`, the controller EKS runs for Services;
  the platform installs no AWS Load Balancer Controller): `aws-load-balancer-ssl-cert` (an ACM or IAM
  certificate ARN) makes the ports named in `aws-load-balancer-ssl-ports` secure listeners; with
  `aws-load-balancer-backend-protocol: http` each is an HTTPS listener forwarding HTTP (`buildListener`,
  `backendProtocolMapping`; without it, a raw SSL listener to TCP).
- ACK (kubernetes/cloud-provider-alibaba-cloud v2.14.0 `pkg/controller/service/reconcile/annotation/
  annotations.go`, `clbv1/listeners.go` `protocol`; ACK, "Configure a Classic Load Balancer (CLB) instance by
  using annotations", HTTPS listener): `alibaba-cloud-loadbalancer-protocol-port: "https:<port>"` and
  `alibaba-cloud-loadbalancer-cert-id` (a certificate of Alibaba Cloud's certificate service); the CLB's
  HTTPS listener forwards HTTP to the backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import rules

HTTPS_PORT = 443


@dataclass(frozen=True)
class LoadBalancer:
    """An exposed workload's load balancer on `cloud` ("alicloud" or "aws"): internal unless `public`."""

    cloud: str
    public: bool = False
    # Terminate HTTPS on HTTPS_PORT with this certificate (ACM ARN / ACK cert id); None: plain TCP.
    certificate: str | None = None

    @property
    def annotations(self) -> dict[str, str]:
        return load_balancer_annotations(self.cloud, self.public, self.certificate)


def load_balancer_annotations(cloud: str, public: bool = False, certificate: str | None = None) -> dict[str, str]:
    """The annotations of an exposed workload's LoadBalancer Service: internal unless `public`; with a
    `certificate`, an HTTPS listener on HTTPS_PORT that forwards plain HTTP to the pods."""
    annotations = {} if public else rules.internal_load_balancer_annotations(cloud)
    if certificate and cloud == "aws":
        annotations |= {
            "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": certificate,
            "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": str(HTTPS_PORT),
            "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http",
        }
    elif certificate:
        annotations |= {
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-protocol-port": f"https:{HTTPS_PORT}",
            "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-cert-id": certificate,
        }
    return annotations


def load_balancer_address(status) -> str:
    """The first IP or hostname of a Service's load balancer.

    pulumi-kubernetes does not finish creating a LoadBalancer Service until the cloud has given it an address
    (`provider/pkg/await/service.go`: ready once `.status.loadBalancer.ingress` is a non-empty list), so after
    `pulumi up` it is there; during a preview the status is unknown and this is never called. The offline mock
    answers with the plan's "(known after apply)" (`mlplatform/offline/engine.py`): the program itself never
    writes a placeholder, and a Service without an address is an error, not an output.
    """
    load_balancer = getattr(status, "load_balancer", None) if status else None
    for entry in getattr(load_balancer, "ingress", None) or []:
        if entry.ip or entry.hostname:
            return entry.ip or entry.hostname
    raise ValueError(f"the Service has no load balancer address: {status}")


def load_balancer_service(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    selector: dict[str, str],
    ports: list[dict],
    annotations: dict[str, str],
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.core.v1.Service:
    """A LoadBalancer Service the program owns, in front of pods a chart or an operator runs (whose own Service
    stays ClusterIP): its address is an output of a resource of the plan, never a read of an object that may not
    exist yet (the engine runs reads during preview and fails on a missing object)."""
    return k8s.core.v1.Service(
        resource_name,
        metadata={"name": name, "namespace": namespace, **({"annotations": annotations} if annotations else {})},
        spec={"type": "LoadBalancer", "selector": selector, "ports": ports},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
