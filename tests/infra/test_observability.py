"""Observability: logs and metrics for the cluster, with Seldon's model metrics scraped, on both clouds."""

import json
import re

import pulumi_aws as aws
import yaml

from mlplatform.conventions import COMPUTED, sls_log_env
from mlplatform.infra.observability import Observability, ObservabilityArgs, arms_vswitch, sls_project_name

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
# SLS project naming rules (pulumi_alicloud log.Project `project_name`).
SLS_PROJECT = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _plan(plan, cloud, kind="managed", with_dependency=False, **overrides):
    def program():
        depends_on = ()
        if with_dependency:
            depends_on = (
                aws.eks.Addon("pod-identity-agent", cluster_name="prod", addon_name="eks-pod-identity-agent"),
            )
        args = ObservabilityArgs(
            cloud=cloud,
            cluster_id="cluster-1",
            cluster_name="prod-cluster",
            cluster_arn="arn:eks:prod",
            subnet_ids=["vsw-1", "vsw-2"],
            log_retention_days=14,
            cluster_kind=kind,
            depends_on=depends_on,
            **overrides,
        )
        Observability("obs", args)

    return plan(program)


def test_alibaba_sls_logs_and_arms_prometheus_scraping_seldon(plan):
    monitor = _plan(plan, "alicloud")
    assert monitor.named("obs-containers").inputs["retentionPeriod"] == 14
    collector = monitor.named("obs-log-collector").inputs
    assert collector["name"] == "logtail-ds"  # a DaemonSet: clusters with nodes
    project = monitor.named("obs-logs").inputs["projectName"]
    assert json.loads(collector["config"]) == {"sls_project_name": project}
    prometheus = monitor.named("obs-prometheus").inputs
    assert prometheus["clusterId"] == "cluster-1"
    assert not {"vpcId", "vswitchId", "securityGroupId"} & set(prometheus)
    monitoring = yaml.safe_load(monitor.named("obs-seldon-metrics").inputs["configYaml"])
    assert monitoring["kind"] == "PodMonitor"
    assert monitoring["spec"]["podMetricsEndpoints"][0]["path"] == "/prometheus"


def test_sls_project_names_are_unique_through_a_random_suffix(plan):
    monitor = _plan(plan, "alicloud")
    suffix = monitor.named("obs-logs-suffix").inputs
    assert (suffix["length"], suffix["special"], suffix["upper"]) == (6, False, False)
    # The suffix is only known once created: the plan shows the name as partly computed.
    assert monitor.named("obs-logs").inputs["projectName"] == f"obs-logs-{COMPUTED}"
    long = sls_project_name("prod-" + "x" * 70 + "-observability-logs", "a1b2c3")
    assert SLS_PROJECT.match(long) and long.endswith("-a1b2c3") and len(long) == 63


def test_ask_collects_logs_with_the_log_controller_and_gives_arms_its_network(plan):
    monitor = _plan(plan, "alicloud", kind="serverless", vpc_id="vpc-1", security_group_id="sg-1")
    collector = monitor.named("obs-log-collector").inputs
    # ASK has no nodes for the logtail-ds DaemonSet.
    assert collector["name"] == "alibaba-log-controller"
    assert json.loads(collector["config"]) == {"sls_project_name": monitor.named("obs-logs").inputs["projectName"]}
    assert not [
        r for r in monitor.of_type("alicloud:cs/kubernetesAddon:KubernetesAddon") if r.inputs["name"] == "logtail-ds"
    ]
    prometheus = monitor.named("obs-prometheus").inputs
    assert (prometheus["vpcId"], prometheus["vswitchId"], prometheus["securityGroupId"]) == ("vpc-1", "vsw-1", "sg-1")
    assert monitor.component("obs").outputs["log_project"] == f"obs-logs-{COMPUTED}"


def test_the_arms_instance_on_ask_sits_in_the_vswitch_the_flows_take_its_scrapes_from(plan):
    # flows.scraper_networks reads the same choice (arms_vswitch of the zones) as the instance's vSwitch here.
    monitor = _plan(plan, "alicloud", kind="serverless", vpc_id="vpc-1", security_group_id="sg-1")
    assert monitor.named("obs-prometheus").inputs["vswitchId"] == arms_vswitch(["vsw-1", "vsw-2"]) == "vsw-1"
    assert arms_vswitch(["vsw-2", "vsw-1"]) != "vsw-1"  # config order decides, not the name


def test_pods_on_ask_ask_for_collection_with_env_vars():
    assert sls_log_env("mlp-logs-a1b2c3", "containers") == [
        {"name": "aliyun_logs_containers", "value": "stdout"},
        {"name": "aliyun_logs_containers_project", "value": "mlp-logs-a1b2c3"},
    ]


def test_aws_does_not_create_the_log_group_eks_creates_itself(plan):
    monitor = _plan(plan, "aws")
    groups = monitor.of_type(LOG_GROUP)
    assert [g.inputs["name"] for g in groups] == ["/aws/containerinsights/prod-cluster/application"]
    assert groups[0].inputs["retentionInDays"] == 14
    assert not [g for g in groups if g.inputs["name"].startswith("/aws/eks/")]


def test_the_cloudwatch_add_on_gets_its_iam_by_pod_identity_and_waits(plan):
    monitor = _plan(plan, "aws", with_dependency=True)
    addon = next(r for r in monitor.of_type("aws:eks/addon:Addon") if r.name == "obs-cloudwatch-agent")
    assert addon.inputs["addonName"] == "amazon-cloudwatch-observability"
    role = next(r for r in monitor.of_type("aws:iam/role:Role") if r.name == "obs-cloudwatch-agent")
    assert addon.inputs["podIdentityAssociations"] == [
        {"roleArn": "arn:aws:iam::000000000000:role/obs-cloudwatch-agent", "serviceAccount": "cloudwatch-agent"}
    ]
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    attachments = monitor.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    policies = {a.inputs["policyArn"] for a in attachments}
    assert "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy" in policies
    waits_for = set(addon.dependencies)
    assert {a.urn for a in attachments} <= waits_for
    assert monitor.named("pod-identity-agent").urn in waits_for
    assert monitor.of_type(LOG_GROUP)[0].urn in waits_for


def test_the_scraper_destination_is_computed_never_null(plan):
    monitor = _plan(plan, "aws")
    scraper = monitor.named("obs-seldon-metrics").inputs
    assert scraper["destination"]["amp"]["workspaceArn"] == COMPUTED
    assert scraper["source"]["eks"]["clusterArn"] == "arn:eks:prod"
    jobs = yaml.safe_load(scraper["scrapeConfiguration"])["scrape_configs"]
    assert jobs[0]["job_name"] == "seldon-models"
    assert monitor.component("obs").outputs["metrics_endpoint"] == COMPUTED


def test_amp_scrapes_cadvisor_through_the_api_server_with_its_token(plan):
    monitor = _plan(plan, "aws", security_group_id="sg-cluster")
    jobs = {
        job["job_name"]: job
        for job in yaml.safe_load(monitor.named("obs-seldon-metrics").inputs["scrapeConfiguration"])["scrape_configs"]
    }
    cadvisor = jobs["kubernetes-nodes-cadvisor"]
    assert cadvisor["scheme"] == "https"
    assert cadvisor["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token",
    }
    relabels = {rule["target_label"]: rule for rule in cadvisor["relabel_configs"] if "target_label" in rule}
    assert relabels["__address__"]["replacement"] == "kubernetes.default.svc:443"
    assert relabels["__metrics_path__"] == {
        "source_labels": ["__meta_kubernetes_node_name"],
        "regex": "(.+)",
        "target_label": "__metrics_path__",
        "replacement": "/api/v1/nodes/$1/proxy/metrics/cadvisor",
    }
    # No job reaches a kubelet directly: a node-discovered target is rewritten to the API server, with the token.
    for job in jobs.values():
        if any(sd["role"] == "node" for sd in job["kubernetes_sd_configs"]):
            assert "__address__" in {r.get("target_label") for r in job["relabel_configs"]}, job["job_name"]
            assert "authorization" in job, job["job_name"]


def test_the_amp_collector_joins_the_cluster_security_group(plan):
    monitor = _plan(plan, "aws", security_group_id="sg-cluster")
    source = monitor.named("obs-seldon-metrics").inputs["source"]["eks"]
    # Its ENIs sit in the nodes' subnets and in the group whose members reach the nodes and pods.
    assert source["subnetIds"] == ["vsw-1", "vsw-2"]
    assert source["securityGroupIds"] == ["sg-cluster"]
    # The collector's Kubernetes access is the access entry AMP creates itself on an `authenticationMode: API`
    # cluster (test_cluster.py): no access entry or RBAC of ours would duplicate it.
    assert not [r for r in monitor.registrations.values() if r.type == "aws:eks/accessEntry:AccessEntry"]
