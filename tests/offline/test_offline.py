import pulumi
import pulumi_kubernetes as k8s

from mlplatform.offline.engine import SECRET_SIG, SIG_KEY


def test_recording_keeps_options_secrets_and_integers(plan):
    def program():
        provider = k8s.Provider("cluster", kubeconfig=pulumi.Output.secret("kubeconfig-text"))
        namespace = k8s.core.v1.Namespace(
            "models", metadata={"name": "models"}, opts=pulumi.ResourceOptions(provider=provider, protect=True)
        )
        k8s.apps.v1.Deployment(
            "client",
            metadata={"name": "client", "namespace": namespace.metadata.name},
            spec={
                "replicas": 3,
                "selector": {"matchLabels": {"app": "client"}},
                "template": {
                    "metadata": {"labels": {"app": "client"}},
                    "spec": {"containers": [{"name": "client", "image": "client:v1"}]},
                },
            },
            opts=pulumi.ResourceOptions(provider=provider),
        )

    monitor = plan(program)
    kubeconfig = monitor.named("cluster").inputs["kubeconfig"]
    assert kubeconfig[SIG_KEY] == SECRET_SIG
    namespace = monitor.named("models")
    assert namespace.protect is True
    deployment = monitor.named("client")
    assert deployment.inputs["spec"]["replicas"] == 3
    assert isinstance(deployment.inputs["spec"]["replicas"], int)
    assert deployment.provider.startswith(monitor.named("cluster").urn)
    assert namespace.urn in deployment.property_dependencies["metadata"]


def test_stack_reference_reads_the_referenced_stack_outputs(plan):
    def program():
        dev = pulumi.StackReference("organization/ml-platform/dev")
        pulumi.export("published", dev.get_output("modelVersions"))

    monitor = plan(program, "prod", {"organization/ml-platform/dev": {"modelVersions": ["color:v1"]}})
    stack = monitor.of_type("pulumi:pulumi:Stack")[0]
    assert stack.outputs == {"published": ["color:v1"]}
