"""Links to the cloud consoles where a stack's metrics and logs are read (stack output `dashboards`).

Built from the region and the names the stack gives its resources; pure functions of plain strings.
URL formats, as the consoles themselves link them:
- Alibaba Cloud SLS log search: `https://sls.console.aliyun.com/lognext/project/<project>/logsearch/<logstore>`
  (`?slsRegion=<region>`), the form SLS alerts and dashboards link to (e.g. `alert_url` in the SLS alert
  template variables).
- Alibaba Cloud ARMS Prometheus of an ACK cluster: `https://arms.console.aliyun.com/#/promDetail/<region>/<cluster id>/setting`
  (ASM's docs on ACK's ARMS Prometheus link the instance of a cluster this way; the instance id is the cluster id).
- AWS CloudWatch Container Insights: `https://<region>.console.aws.amazon.com/cloudwatch/home?region=<region>#container-insights:infrastructure`.
- AWS CloudWatch log group: `...#logsV2:log-groups/log-group/<name>` with the name's `/` written `$252F`
  (percent-encoded twice, `%` then written `$`).
"""

from __future__ import annotations

from urllib.parse import quote

# The log store the observability component creates in its SLS project (mlplatform/infra/observability.py).
SLS_LOGSTORE = "containers"


def container_log_group(cluster_name: str) -> str:
    """The Container Insights application log group of an EKS cluster."""
    return f"/aws/containerinsights/{cluster_name}/application"


def _cloudwatch_path(name: str) -> str:
    return quote(quote(name, safe=""), safe="").replace("%", "$")


def dashboards(cloud: str, region: str, log_project: str, cluster_id: str, cluster_name: str) -> dict[str, str]:
    """`metrics` and `logs` console URLs of the stack's cluster."""
    if cloud == "alicloud":
        return {
            "metrics": f"https://arms.console.aliyun.com/#/promDetail/{region}/{cluster_id}/setting",
            "logs": f"https://sls.console.aliyun.com/lognext/project/{log_project}"
            f"/logsearch/{SLS_LOGSTORE}?slsRegion={region}",
        }
    home = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
    return {
        "metrics": f"{home}#container-insights:infrastructure",
        "logs": f"{home}#logsV2:log-groups/log-group/{_cloudwatch_path(container_log_group(cluster_name))}",
    }
