import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlplatform import rules
from mlplatform import validation as conformance
from mlplatform.config import WebService as WebServiceConfig
from mlplatform.workloads.webservice import WebService, WebServiceArgs

SERVING_URL = "http://emissary-ingress.emissary.svc.cluster.local/seldon/models/color/v1/models/color:predict"


def render(plan, cloud="alicloud", **config):
    def program():
        provider = k8s.Provider("cluster", kubeconfig="kubeconfig")
        client = WebService(
            "color-client",
            WebServiceArgs(
                config=WebServiceConfig(image="fogdong/color-serving:v1", port=3333, **config),
                namespace="models",
                cloud=cloud,
                env={"URL": pulumi.Output.from_input(SERVING_URL), "MODE": "color"},
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        pulumi.export("endpoint", client.endpoint)

    monitor = plan(program)
    objects = [r.inputs for r in monitor.registrations.values() if r.type.startswith("kubernetes:") and r.custom]
    assert conformance.validate_all(objects, strict=True) == {}
    return monitor


def test_deployment_runs_the_client_with_the_serving_url_in_its_env(plan):
    monitor = render(plan, replicas=2)
    deployment = monitor.named("color-client-deployment").inputs
    assert deployment["metadata"]["name"] == "color-client"
    assert deployment["metadata"]["namespace"] == "models"
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "fogdong/color-serving:v1"
    assert container["env"] == [{"name": "MODE", "value": "color"}, {"name": "URL", "value": SERVING_URL}]
    assert container["ports"] == [{"name": "http", "containerPort": 3333, "protocol": "TCP"}]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "100m", "memory": "128Mi"},
    }
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels


def test_internal_by_default_with_an_in_cluster_endpoint(plan):
    monitor = render(plan)
    service = monitor.named("color-client-service").inputs
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 3333, "targetPort": "http", "protocol": "TCP"}]
    assert (
        service["spec"]["selector"]
        == monitor.named("color-client-deployment").inputs["spec"]["selector"]["matchLabels"]
    )
    stack = monitor.of_type("pulumi:pulumi:Stack")[0]
    assert stack.outputs["endpoint"] == "http://color-client.models.svc.cluster.local:3333/"


INTERNAL = {
    "alicloud": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"},
    "aws": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
}


@pytest.mark.parametrize("cloud", ["alicloud", "aws"])
def test_expose_makes_an_internal_load_balancer_on_either_cloud(plan, cloud):
    monitor = render(plan, cloud=cloud, expose=True)
    service = monitor.named("color-client-service").inputs
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == {
        "mlplatform.io/config-path": "webServices.color-client",
        **INTERNAL[cloud],
    }
    assert rules.is_internal_load_balancer(service["metadata"]["annotations"])


def test_only_public_makes_an_internet_facing_load_balancer(plan):
    service = render(plan, cloud="aws", expose=True, public=True).named("color-client-service").inputs
    assert service["spec"]["type"] == "LoadBalancer"
    assert not rules.is_internal_load_balancer(service["metadata"].get("annotations", {}))


def test_public_without_expose_is_refused():
    with pytest.raises(ValueError, match="public makes the load balancer of `expose` internet-facing"):
        WebServiceConfig(image="fogdong/color-serving:v1", port=3333, public=True)
