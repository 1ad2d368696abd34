"""Reading back the address a cloud gives a LoadBalancer Service, in one place for every component."""

from __future__ import annotations

from mlplatform.conventions import COMPUTED


def load_balancer_address(status) -> str:
    """The first IP or hostname of a Service's load balancer.

    `pulumi up` waits for a LoadBalancer Service to get its address, so it is there after apply; offline,
    and before the cloud has answered, it reads as the plan's "(known after apply)".
    """
    load_balancer = getattr(status, "load_balancer", None) if status else None
    for entry in getattr(load_balancer, "ingress", None) or []:
        if entry.ip or entry.hostname:
            return entry.ip or entry.hostname
    return COMPUTED
