"""The pack on the new kinds: KServe InferenceService (models and LLMs), LLMInferenceService and Trainer v2 TrainJob."""

from mlpolicies.infrastructure import prod_private_endpoints
from mlpolicies.serving import prod_serving_availability, promoted_model_versions, serving_traffic_split
from mlpolicies.workloads import container_resources, images_pinned
from policy_harness import check, check_stack, container, resource_args, stack_resource

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
LLMISVC = "kubernetes:serving.kserve.io/v1alpha2:LLMInferenceService"
TRAINJOB = "kubernetes:trainer.kubeflow.org/v1alpha1:TrainJob"
PATH = "mlplatform.io/config-path"  # the config entry an object or predictor was rendered from
STACK_REFERENCE = "pulumi:pulumi:StackReference"
RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
GPU_RESOURCES = {
    "requests": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "2"},
    "limits": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "2"},
}
GPU_PLACEMENT = {
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
    "nodeSelector": {"mlplatform.io/accelerator": "nvidia-gpu"},
}


def model(version="color:v1", resources=RESOURCES, fmt="tensorflow") -> dict:
    return {"modelFormat": {"name": fmt}, "storageUri": "s3://m/x/", "resources": resources}


def isvc(stable_min=4, stable_max=12, autoscaler="hpa", canaries=((10, 2),), version="color:v1") -> dict:
    """The InferenceService of config `servings.color` with predictors v1 (the stable) and c0, c1, ... (canaries)."""
    return {
        "metadata": {
            "name": "color",
            "annotations": {"serving.kserve.io/autoscalerClass": autoscaler, PATH: "servings.color"},
        },
        "spec": {
            "predictor": {
                "name": "v1",
                "minReplicas": stable_min,
                "maxReplicas": stable_max,
                "annotations": {"mlplatform.io/model-version": version, PATH: "servings.color.predictors[0]"},
                "model": model(),
            },
            "canary": [
                {
                    "trafficPercent": percent,
                    "predictor": {
                        "name": f"c{index}",
                        "minReplicas": replicas,
                        "annotations": {
                            "mlplatform.io/model-version": "color:v2",
                            PATH: f"servings.color.predictors[{index + 1}]",
                        },
                        "model": {"name": "kserve-container", **model()},
                    },
                }
                for index, (percent, replicas) in enumerate(canaries)
            ],
        },
    }


def llm(min_replicas=0) -> dict:
    return {
        "metadata": {"name": "chat", "annotations": {"serving.kserve.io/autoscalerClass": "external"}},
        "spec": {
            "predictor": {
                "minReplicas": min_replicas,
                "maxReplicas": 2,
                "annotations": {PATH: "servings.chat.llm"},
                "model": model(resources=GPU_RESOURCES, fmt="huggingface"),
                **GPU_PLACEMENT,
            }
        },
    }


def trainjob(image="registry.example.com/train:v3", resources=GPU_RESOURCES, placement=GPU_PLACEMENT) -> dict:
    pod = {"containers": [{"name": "node", "volumeMounts": []}], **placement}
    patch = {
        "manager": "mlplatform.io/ml-platform",
        "trainingRuntimeSpec": {
            "template": {
                "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"spec": pod}}}}]}
            }
        },
    }
    return {
        "metadata": {"name": "color-train", "annotations": {PATH: "trainingJobs.color-train"}},
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {"image": image, "numNodes": 2, "resourcesPerNode": resources},
            "runtimePatches": [patch],
        },
    }


# ------------------------------------------------------------------ serving-traffic-split


def test_canaries_within_100_percent_pass_and_over_100_is_reported():
    assert check(serving_traffic_split, resource_args(ISVC, isvc(canaries=((10, 2), (20, 2))))) == []
    [message] = check(serving_traffic_split, resource_args(ISVC, isvc(canaries=((60, 2), (50, 2)))))
    assert message == (
        "servings.color.predictors: the canaries take 110% of the traffic; give them at most 100 together "
        "(InferenceService subject spec.canary[].trafficPercent)."
    )


# ------------------------------------------------------------------ prod-serving-availability


def test_prod_inference_service_that_autoscales_from_two_passes():
    assert check(prod_serving_availability, resource_args(ISVC, isvc())) == []


def test_prod_inference_service_on_fixed_or_too_few_replicas_is_reported():
    [message] = check(prod_serving_availability, resource_args(ISVC, isvc(autoscaler="none")))
    assert message == (
        "servings.color.predictors[0].autoscaling: does not autoscale; set autoscaling with minReplicas >= 2 and "
        "maxReplicas >= minReplicas (InferenceService subject autoscalerClass none)."
    )
    [message] = check(prod_serving_availability, resource_args(ISVC, isvc(stable_min=1, stable_max=4)))
    assert message == (
        "servings.color.predictors[0].autoscaling.minReplicas: runs 1 replica(s); prod predictors run at least 2: "
        "set it to 2 or more (InferenceService subject predictor v1 minReplicas)."
    )
    [message] = check(prod_serving_availability, resource_args(ISVC, isvc(canaries=((10, 1),))))
    assert message.startswith(
        "servings.color.predictors[1].replicas: takes 10% of the traffic on 1 replica(s); prod predictors run at "
        "least 2: set it to 2 or more"
    )


def test_a_dark_canary_may_run_one_replica():
    assert check(prod_serving_availability, resource_args(ISVC, isvc(canaries=((0, 1),)))) == []


def test_prod_llm_may_scale_to_zero_unless_the_pack_config_forbids_it():
    assert check(prod_serving_availability, resource_args(ISVC, llm())) == []
    config = {"allowScaleToZero": False}
    [message] = check(prod_serving_availability, resource_args(ISVC, llm(), config=config))
    assert message.startswith("servings.chat.llm.scaling.minReplicas: scales to zero;")


def test_availability_of_inference_services_does_not_apply_in_dev():
    assert check(prod_serving_availability, resource_args(ISVC, isvc(autoscaler="none"), stack="dev")) is None


# ------------------------------------------------------------------ container-resources and images-pinned


def test_inference_service_and_llm_containers_with_resources_and_gpu_placement_pass():
    assert check(container_resources, resource_args(ISVC, isvc())) == []
    assert check(container_resources, resource_args(ISVC, llm())) == []


def test_inference_service_model_without_resources_is_reported():
    props = isvc()
    del props["spec"]["predictor"]["model"]["resources"]
    [message] = check(container_resources, resource_args(ISVC, props))
    assert message.startswith(
        "servings.color.predictors[0].resources: the container has no requests.cpu, requests.memory, limits.cpu, "
        "limits.memory; give it cpu and memory requests and limits"
    )
    assert message.endswith("(InferenceService subject predictor v1 container 'kserve-container' resources).")


def test_llm_gpu_pod_off_the_gpu_pool_is_reported():
    props = llm()
    for key in GPU_PLACEMENT:
        del props["spec"]["predictor"][key]
    messages = check(container_resources, resource_args(ISVC, props))
    assert len(messages) == 2 and messages[0].startswith(
        "servings.chat.llm: asks for a GPU but its pod does not tolerate the GPU pool taint"
    )


def test_trainjob_trainer_with_resources_on_the_gpu_pool_passes_and_off_it_is_reported():
    assert check(container_resources, resource_args(TRAINJOB, trainjob())) == []
    messages = check(container_resources, resource_args(TRAINJOB, trainjob(placement={})))
    prefix = "trainingJobs.color-train.roles.Worker.resources: asks for a GPU"
    assert len(messages) == 2 and all(m.startswith(prefix) for m in messages)


def test_trainjob_and_llminferenceservice_images_are_pinned():
    assert check(images_pinned, resource_args(TRAINJOB, trainjob())) == []
    [message] = check(images_pinned, resource_args(TRAINJOB, trainjob(image="registry.example.com/train:latest")))
    assert message.startswith(
        "trainingJobs.color-train.image: image 'registry.example.com/train:latest' uses the moving tag 'latest'"
    )
    assert message.endswith("(TrainJob subject trainer nodes container 'trainer').")
    # An object no config entry rendered is named by its own fields.
    llmisvc = {"spec": {"template": {"containers": [container("main", image="vllm/vllm-openai")]}}}
    [message] = check(images_pinned, resource_args(LLMISVC, llmisvc))
    assert "LLMInferenceService subject template container 'main': image 'vllm/vllm-openai' has no tag" in message
    llmisvc["spec"]["template"]["containers"][0]["image"] = "vllm/vllm-openai:v0.11.0"
    assert check(images_pinned, resource_args(LLMISVC, llmisvc)) == []


# ------------------------------------------------------------------ promoted-model-versions


def dev_reference(versions) -> object:
    outputs = {"name": "organization/ml-platform/dev", "outputs": {"modelVersions": versions}}
    return stack_resource(STACK_REFERENCE, outputs, name="organization/ml-platform/dev")


def test_prod_inference_service_serves_only_published_versions():
    serving = stack_resource(ISVC, isvc(version="color:v1"), name="color")
    assert check_stack(promoted_model_versions, [dev_reference(["color:v1", "color:v2"]), serving]) == []
    [message] = check_stack(promoted_model_versions, [dev_reference(["color:v1"]), serving])
    assert message.startswith(
        "servings.color.predictors[1].model: serves color:v2, which stack 'dev' has not published (published: color:v1)"
    )


# ------------------------------------------------------------------ prod-private-endpoints (the KServe Gateway)

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def gateway(annotations: dict | None) -> dict:
    spec = {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
    if annotations is not None:
        spec["infrastructure"] = {"annotations": annotations}
    return {"metadata": {"name": "kserve-ingress-gateway", "namespace": "kserve"}, "spec": spec}


def test_an_internal_kserve_gateway_passes_and_a_public_one_is_reported():
    internal = {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "intranet"}
    assert check(prod_private_endpoints, resource_args(GATEWAY, gateway(internal))) == []
    [message] = check(prod_private_endpoints, resource_args(GATEWAY, gateway(None)))
    assert "Gateway subject makes a Gateway's load balancer reachable from the internet" in message
    config = {"allowedPublicEndpoints": ["kserve/kserve-ingress-gateway"]}
    assert check(prod_private_endpoints, resource_args(GATEWAY, gateway(None), config=config)) == []
