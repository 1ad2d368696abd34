"""A Kubernetes cluster with its network: ACK, ASK or ACK@Edge on Alibaba Cloud, EKS (with Fargate) on AWS.

The kubeconfig is a secret output; the stack composition builds the `pulumi_kubernetes.Provider`
from it, so this component creates no provider. A VPC and one vswitch/subnet per zone are created
unless the config names existing ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_aws as aws

from mlplatform import config as cfg
from mlplatform.infra.aws_iam import service_role

EKS_CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# Each ACK cluster kind takes its add-ons through its own input type.
ACK_ADDON_ARGS = {
    "managed": alicloud.cs.ManagedKubernetesAddonArgs,
    "serverless": alicloud.cs.ServerlessKubernetesAddonArgs,
    "edge": alicloud.cs.EdgeKubernetesAddonArgs,
}
FARGATE_POLICIES = ("AmazonEKSFargatePodExecutionRolePolicy",)


@dataclass(frozen=True)
class ClusterArgs:
    cloud: str
    cluster: cfg.Cluster
    # ACK add-ons to install with the cluster (e.g. ack-ai-installer for cGPU, logtail-ds for SLS).
    addons: tuple[str, ...] = ()
    # prod: protected, retained on delete and with the cloud's deletion protection on.
    protect: bool = False
    # EKS control-plane log types sent to CloudWatch (observability).
    control_plane_logs: tuple[str, ...] = ()
    tags: dict[str, str] | None = None


def eks_kubeconfig(cluster_name: pulumi.Input[str], endpoint, certificate_authority) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with `aws eks get-token`, as `aws eks update-kubeconfig` writes it."""
    return pulumi.Output.all(cluster_name, endpoint, certificate_authority).apply(
        lambda values: json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": values[0], "cluster": {"server": values[1], "certificate-authority-data": values[2]}}
                ],
                "contexts": [{"name": values[0], "context": {"cluster": values[0], "user": values[0]}}],
                "current-context": values[0],
                "users": [
                    {
                        "name": values[0],
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": ["eks", "get-token", "--cluster-name", values[0]],
                            }
                        },
                    }
                ],
            }
        )
    )


class Cluster(pulumi.ComponentResource):
    """Outputs: `cluster_id`, `cluster_name`, `cluster_arn` (EKS), `vpc_id`, `subnet_ids`, secret `kubeconfig`."""

    cluster_id: pulumi.Output[str]
    cluster_arn: pulumi.Output[str] | None = None
    cluster_name: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlplatform:cluster:Cluster", name, None, opts)
        self._name = name
        self._args = args
        self._kept = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        network = args.cluster.network
        if network.vpc_id:
            self.vpc_id = pulumi.Output.from_input(network.vpc_id)
            self.subnet_ids = pulumi.Output.from_input(list(network.subnet_ids))
        elif args.cloud == "alicloud":
            self._alicloud_network(network)
        else:
            self._aws_network(network)
        if args.cloud == "alicloud":
            self._ack()
        else:
            self._eks()
        self.register_outputs(
            {
                "cluster_id": self.cluster_id,
                "cluster_name": self.cluster_name,
                "vpc_id": self.vpc_id,
                "subnet_ids": self.subnet_ids,
                "kubeconfig": self.kubeconfig,
            }
        )

    # ------------------------------------------------------------ networks

    def _alicloud_network(self, network: cfg.Network) -> None:
        vpc = alicloud.vpc.Network(
            f"{self._name}-vpc",
            vpc_name=f"{self._name}-vpc",
            cidr_block=network.cidr,
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        switches = [
            alicloud.vpc.Switch(
                f"{self._name}-{zone.zone}",
                vswitch_name=f"{self._name}-{zone.zone}",
                vpc_id=vpc.id,
                zone_id=zone.zone,
                cidr_block=zone.cidr,
                tags=self._args.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for zone in network.zones
        ]
        self.vpc_id = vpc.id
        self.subnet_ids = pulumi.Output.all(*[switch.id for switch in switches])

    def _aws_network(self, network: cfg.Network) -> None:
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{self._name}-vpc",
            cidr_block=network.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**(self._args.tags or {}), "Name": f"{self._name}-vpc"},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{self._name}-igw", vpc_id=vpc.id, opts=child)
        routes = aws.ec2.RouteTable(
            f"{self._name}-routes",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            opts=child,
        )
        subnets = []
        for zone in network.zones:
            subnet = aws.ec2.Subnet(
                f"{self._name}-{zone.zone}",
                vpc_id=vpc.id,
                availability_zone=zone.zone,
                cidr_block=zone.cidr,
                map_public_ip_on_launch=True,
                # Lets the AWS load balancer controller place load balancers in these subnets.
                tags={**(self._args.tags or {}), "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{self._name}-{zone.zone}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            subnets.append(subnet)
        self.vpc_id = vpc.id
        self.subnet_ids = pulumi.Output.all(*[subnet.id for subnet in subnets])

    # ------------------------------------------------------------ clusters

    def _ack(self) -> None:
        spec = self._args.cluster
        common = dict(
            name=self._name,
            version=spec.kubernetes_version,
            service_cidr=spec.service_cidr,
            new_nat_gateway=True,
            deletion_protection=self._args.protect,
            enable_rrsa=True,
            tags=self._args.tags,
            addons=[ACK_ADDON_ARGS[spec.kind](name=addon) for addon in self._args.addons] or None,
            opts=self._kept,
        )
        if spec.kind == "managed":
            cluster = alicloud.cs.ManagedKubernetes(
                self._name,
                cluster_spec="ack.pro.small",
                worker_vswitch_ids=self.subnet_ids,
                pod_cidr=spec.pod_cidr,
                slb_internet_enabled=spec.public_endpoint,
                **common,
            )
        elif spec.kind == "serverless":
            cluster = alicloud.cs.ServerlessKubernetes(
                self._name,
                cluster_spec="ack.pro.small",
                vpc_id=self.vpc_id,
                vswitch_ids=self.subnet_ids,
                endpoint_public_access_enabled=spec.public_endpoint,
                **common,
            )
        else:
            common.pop("enable_rrsa")  # ACK@Edge has no RRSA
            cluster = alicloud.cs.EdgeKubernetes(
                self._name,
                worker_vswitch_ids=self.subnet_ids,
                worker_instance_types=list(spec.edge_worker_instance_types),
                worker_number=spec.edge_workers,
                pod_cidr=spec.pod_cidr,
                slb_internet_enabled=spec.public_endpoint,
                **common,
            )
        credential = alicloud.cs.get_cluster_credential_output(
            cluster_id=cluster.id, opts=pulumi.InvokeOptions(parent=self)
        )
        self.cluster_id = cluster.id
        self.cluster_name = cluster.name
        self.kubeconfig = pulumi.Output.secret(credential.kube_config)

    def _eks(self) -> None:
        spec = self._args.cluster
        role = service_role(f"{self._name}-cluster-role", "eks.amazonaws.com", EKS_CLUSTER_POLICIES, self)
        cluster = aws.eks.Cluster(
            self._name,
            name=self._name,
            version=spec.kubernetes_version,
            role_arn=role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=self.subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=spec.public_endpoint,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True
            ),
            kubernetes_network_config=aws.eks.ClusterKubernetesNetworkConfigArgs(service_ipv4_cidr=spec.service_cidr),
            enabled_cluster_log_types=list(self._args.control_plane_logs) or None,
            deletion_protection=self._args.protect,
            tags=self._args.tags,
            opts=self._kept,
        )
        if spec.kind == "serverless":
            pod_role = service_role(
                f"{self._name}-fargate-role", "eks-fargate-pods.amazonaws.com", FARGATE_POLICIES, self
            )
            aws.eks.FargateProfile(
                f"{self._name}-fargate",
                cluster_name=cluster.name,
                pod_execution_role_arn=pod_role.arn,
                subnet_ids=self.subnet_ids,
                selectors=[aws.eks.FargateProfileSelectorArgs(namespace=ns) for ns in spec.fargate_namespaces],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.cluster_id = cluster.id
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.kubeconfig = pulumi.Output.secret(
            eks_kubeconfig(cluster.name, cluster.endpoint, cluster.certificate_authority.data)
        )
