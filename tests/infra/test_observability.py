"""Observability: logs and metrics for the cluster, with Seldon's model metrics scraped, on both clouds."""

import yaml

from mlplatform.infra.observability import Observability, ObservabilityArgs


def _plan(plan, cloud):
    args = ObservabilityArgs(
        cloud=cloud,
        cluster_id="cluster-1",
        cluster_name="prod-cluster",
        cluster_arn="arn:eks:prod",
        subnet_ids=["s-1"],
        log_retention_days=14,
        control_plane_logs=("api",),
    )
    return plan(lambda: Observability("obs", args))


def test_alibaba_sls_logs_and_arms_prometheus_scraping_seldon(plan):
    monitor = _plan(plan, "alicloud")
    assert monitor.named("obs-containers").inputs["retentionPeriod"] == 14
    assert monitor.named("obs-logtail").inputs["name"] == "logtail-ds"
    assert monitor.named("obs-prometheus").inputs["clusterId"] == "cluster-1"
    monitoring = yaml.safe_load(monitor.named("obs-seldon-metrics").inputs["configYaml"])
    assert monitoring["kind"] == "PodMonitor"
    assert monitoring["spec"]["podMetricsEndpoints"][0]["path"] == "/prometheus"


def test_aws_cloudwatch_logs_and_managed_prometheus_scraping_seldon(plan):
    monitor = _plan(plan, "aws")
    names = sorted(g.inputs["name"] for g in monitor.of_type("aws:cloudwatch/logGroup:LogGroup"))
    assert names == ["/aws/containerinsights/prod-cluster/application", "/aws/eks/prod-cluster/cluster"]
    assert {g.inputs["retentionInDays"] for g in monitor.of_type("aws:cloudwatch/logGroup:LogGroup")} == {14}
    assert monitor.named("obs-cloudwatch-agent").inputs["addonName"] == "amazon-cloudwatch-observability"
    scraper = monitor.named("obs-seldon-metrics").inputs
    assert scraper["source"]["eks"]["clusterArn"] == "arn:eks:prod"
    jobs = yaml.safe_load(scraper["scrapeConfiguration"])["scrape_configs"]
    assert jobs[0]["job_name"] == "seldon-models"
