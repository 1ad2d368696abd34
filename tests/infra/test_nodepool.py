"""Node pools: autoscaling bounds, spot, labels, GPU taints and GPU sharing on both clouds."""

from mlplatform import config as cfg
from mlplatform.infra.nodepool import NodePool, NodePoolArgs


def _plan(plan, cloud, **pool):
    spec = cfg.NodePool.model_validate(pool)
    return plan(
        lambda: NodePool("gpu", NodePoolArgs(cloud=cloud, pool=spec, cluster_id="cluster-1", subnet_ids=["s-1"]))
    )


def test_ack_gpu_pool_with_cgpu_sharing_spot_and_taint(plan):
    monitor = _plan(
        plan,
        "alicloud",
        instanceTypes=["ecs.gn7i-c8g1.2xlarge"],
        minSize=0,
        maxSize=4,
        gpu=True,
        spot=True,
        gpuSharing="cgpu",
        labels={"team": "vision"},
    )
    pool = monitor.named("gpu").inputs
    assert pool["clusterId"] == "cluster-1"
    assert pool["scalingConfig"] == {"enable": True, "minSize": 0, "maxSize": 4}
    assert pool["spotStrategy"] == "SpotAsPriceGo"
    labels = {label["key"]: label["value"] for label in pool["labels"]}
    assert labels == {"team": "vision", "mlplatform.io/accelerator": "nvidia-gpu", "ack.node.gpu.schedule": "cgpu"}
    assert pool["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def test_ack_cpu_pool_has_no_taint_and_no_spot(plan):
    pool = _plan(plan, "alicloud", instanceTypes=["ecs.g7.xlarge"], minSize=2, maxSize=3).named("gpu").inputs
    assert "taints" not in pool
    assert pool["spotStrategy"] == "NoSpot"
    assert pool["systemDiskSize"] == 120


def test_eks_gpu_node_group(plan):
    monitor = _plan(
        plan, "aws", instanceTypes=["g5.xlarge"], minSize=1, maxSize=3, gpu=True, spot=True, gpuSharing="timeSlicing"
    )
    group = monitor.named("gpu").inputs
    assert group["clusterName"] == "cluster-1"
    assert group["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 1}
    assert group["capacityType"] == "SPOT"
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert group["labels"] == {"mlplatform.io/accelerator": "nvidia-gpu"}
    assert group["nodeRoleArn"] == "arn:aws:iam::000000000000:role/gpu-node-role"
    policies = sorted(
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in monitor.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    assert policies == ["AmazonEC2ContainerRegistryReadOnly", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"]


def test_eks_cpu_node_group_is_on_demand(plan):
    group = _plan(plan, "aws", instanceTypes=["m6i.large"], minSize=1, maxSize=2, desiredSize=2).named("gpu").inputs
    assert group["capacityType"] == "ON_DEMAND"
    assert group["amiType"] == "AL2023_x86_64_STANDARD"
    assert group["scalingConfig"]["desiredSize"] == 2
