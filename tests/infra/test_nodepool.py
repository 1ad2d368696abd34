"""Node pools: autoscaling bounds, spot, labels, GPU taints and GPU sharing on both clouds."""

from mlplatform import config as cfg
from mlplatform import validation
from mlplatform.infra.nodepool import KarpenterNodes, NodePool, NodePoolArgs

NODES = KarpenterNodes(
    node_role_name="KarpenterNodeRole-c", subnet_ids=["subnet-0a1"], security_group_id="sg-0b2", cluster_name="c"
)


def _plan(plan, cloud, **pool):
    spec = cfg.NodePool.model_validate(pool)
    karpenter = NODES if cloud == "aws" else None
    return plan(
        lambda: NodePool(
            "gpu",
            NodePoolArgs(
                cloud=cloud, pool=spec, cluster_id="cluster-1", subnet_ids=["subnet-0a1"], karpenter=karpenter
            ),
        )
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
    assert pool["scalingConfig"] == {"enable": True, "minSize": 0, "maxSize": 4, "type": "gpushare"}
    assert pool["spotStrategy"] == "SpotAsPriceGo"
    # Spot first, on-demand when spot capacity runs out (needs the COST_OPTIMIZED multi-zone policy).
    assert pool["compensateWithOnDemand"] is True and pool["multiAzPolicy"] == "COST_OPTIMIZED"
    labels = {label["key"]: label["value"] for label in pool["labels"]}
    assert labels == {"team": "vision", "mlplatform.io/accelerator": "nvidia-gpu", "ack.node.gpu.schedule": "cgpu"}
    assert pool["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def test_ack_cpu_pool_has_no_taint_and_no_spot(plan):
    pool = _plan(plan, "alicloud", instanceTypes=["ecs.g7.xlarge"], minSize=2, maxSize=3).named("gpu").inputs
    assert "taints" not in pool
    assert pool["spotStrategy"] == "NoSpot"
    assert "compensateWithOnDemand" not in pool
    assert pool["systemDiskSize"] == 120
    assert pool["scalingConfig"]["type"] == "cpu"


def custom(monitor, kind):
    return next(r.inputs for r in monitor.registrations.values() if r.inputs.get("kind") == kind)


def test_eks_gpu_pool_is_a_karpenter_nodepool_with_spot_and_on_demand_fallback(plan):
    monitor = _plan(
        plan, "aws", instanceTypes=["g5.xlarge"], minSize=0, maxSize=3, gpu=True, spot=True, gpuSharing="timeSlicing"
    )
    node_pool, node_class = custom(monitor, "NodePool"), custom(monitor, "EC2NodeClass")
    template = node_pool["spec"]["template"]
    requirements = {r["key"]: r["values"] for r in template["spec"]["requirements"]}
    assert requirements == {
        "node.kubernetes.io/instance-type": ["g5.xlarge"],
        "karpenter.sh/capacity-type": ["spot", "on-demand"],
    }
    assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    # The NVIDIA device plugin chart schedules only onto nodes labelled nvidia.com/gpu.present=true.
    assert template["metadata"]["labels"] == {
        "mlplatform.io/accelerator": "nvidia-gpu",
        "nvidia.com/gpu.present": "true",
    }
    assert node_pool["spec"]["limits"] == {"nodes": 3}
    assert node_pool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert node_class["spec"]["role"] == "KarpenterNodeRole-c"
    assert node_class["spec"]["subnetSelectorTerms"] == [{"id": "subnet-0a1"}]
    for obj in (node_pool, node_class):  # valid against Karpenter v1.14.1's CRDs, nothing pruned
        assert validation.validate(obj, strict=True) == []


def test_eks_cpu_pool_is_on_demand_only(plan):
    node_pool = custom(_plan(plan, "aws", instanceTypes=["m6i.large"], minSize=0, maxSize=2), "NodePool")
    requirements = {r["key"]: r["values"] for r in node_pool["spec"]["template"]["spec"]["requirements"]}
    assert requirements["karpenter.sh/capacity-type"] == ["on-demand"]
    assert "taints" not in node_pool["spec"]["template"]["spec"]
