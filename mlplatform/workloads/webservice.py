"""A small web service (Deployment + Service), e.g. the test client the KubeVela demo puts in front of a serving.

It is reachable inside the cluster; `expose: true` gives it a LoadBalancer Service instead of a ClusterIP
one, internal to the VPC unless the config also sets `public: true` (`addresses.py`). Env values may be
Outputs (a serving's endpoint) resolved by the stack layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlplatform import config as cfg
from mlplatform.conventions import config_path_annotation
from mlplatform.workloads.addresses import load_balancer_address, load_balancer_annotations
from mlplatform.workloads.scheduling import GpuScheduling, placement
from mlplatform.workloads.security import RUN_AS, harden_pod, http_probes, service_account

HTTP_PORT = 80  # left out of the URL, as browsers and clients do


@dataclass
class WebServiceArgs:
    config: cfg.WebService
    namespace: pulumi.Input[str]
    # The stack's cloud ("alicloud" or "aws"): whose annotation keeps an exposed load balancer internal.
    cloud: str
    # The container's environment, by name; the stack layer resolves references to servings.
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    gpu: GpuScheduling = field(default_factory=GpuScheduling)
    depends_on: Sequence[pulumi.Resource] = ()


class WebService(pulumi.ComponentResource):
    """Output `endpoint`: `http://<address>[:<port>]/`, in-cluster DNS or the load balancer's address once assigned."""

    def __init__(self, name: str, args: WebServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:webservice:WebService", name, None, opts)
        service_config = args.config
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ml-platform"}
        metadata = {"name": name, "namespace": args.namespace, "labels": labels}
        path = config_path_annotation("webServices", name)
        fits = placement(service_config.resources, args.gpu)
        container = {
            "name": name,
            "image": service_config.image,
            "ports": [{"name": "http", "containerPort": service_config.port, "protocol": "TCP"}],
            "env": [{"name": key, "value": value} for key, value in sorted(args.env.items())],
            "resources": fits.resources,
            # Readiness and liveness on the service port: HTTP on `healthPath`, else a TCP connect.
            **http_probes("http", service_config.health_path),
        }
        self.service_account, account_name = service_account(name, args.namespace, parent=self)
        pod = harden_pod(
            {"containers": [container], **fits.pod_fields()},
            RUN_AS["webservice"].with_user(service_config.run_as_user),
            account_name,
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={**metadata, "annotations": path},
            spec={
                "replicas": service_config.replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.service_account, *args.depends_on]),
        )
        annotations = load_balancer_annotations(args.cloud, service_config.public) if service_config.expose else {}
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={**metadata, "annotations": {**path, **annotations}},
            spec={
                "type": "LoadBalancer" if service_config.expose else "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": service_config.port, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        address = (
            self.service.status.apply(load_balancer_address)
            if service_config.expose
            else pulumi.Output.concat(name, ".", args.namespace, ".svc.cluster.local")
        )
        port = "" if service_config.port == HTTP_PORT else f":{service_config.port}"
        self.endpoint = pulumi.Output.concat("http://", address, port, "/")
        self.register_outputs({"endpoint": self.endpoint})
