"""`mlp endpoints`: where a stack's servings, web services, notebooks and dashboards answer."""

import json
import re
from pathlib import Path

import pytest
from support import strings

from mlplatform import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def found() -> dict[str, dict]:
    """`mlp endpoints --json` of both stacks (one offline preview each, shared by the tests)."""
    import contextlib
    import io

    result = {}
    for stack in ("dev", "prod"):
        stream = io.StringIO()
        with contextlib.redirect_stdout(stream):
            assert cli.main(["--project-dir", str(ROOT), "endpoints", "-s", stack, "--json"]) == 0
        result[stack] = json.loads(stream.getvalue())
    return result


def test_no_output_is_a_tcp_address(found):
    assert not [s for stack in found.values() for s in strings(stack) if s.startswith("tcp://")]


def test_the_ab_serving_names_the_header_that_selects_it(found):
    style = found["prod"]["servings"]["style"]
    assert style["header"] == {"name": "style", "value": "transfer"}
    assert style["sharesUrlWith"] == "color"
    assert style["url"] == found["prod"]["servings"]["color"]["url"]
    assert "header" not in found["prod"]["servings"]["color"]


def test_servings_list_their_urls_and_split(found):
    color = found["prod"]["servings"]["color"]
    assert color["url"].startswith("http://") and color["url"].endswith("/seldon/models/color/v1/models/color:predict")
    assert color["externalUrl"].startswith("http://")
    assert color["traffic"] == {"v1": 90, "v2": 10}


def test_web_services_and_notebooks_are_urls(found):
    assert found["dev"]["webServices"] == {"color-client": "http://color-client.models.svc.cluster.local:3333/"}
    notebook = found["dev"]["notebooks"]["data-science"]
    assert notebook["url"] == "http://localhost:8888/notebook/notebooks/data-science/"
    assert notebook["access"] == "kubectl -n notebooks port-forward svc/data-science 8888:80"


def test_dashboards_link_the_clouds_consoles(found):
    dashboards = found["prod"]["dashboards"]
    assert re.fullmatch(
        r"https://arms\.console\.aliyun\.com/#/promDetail/cn-hangzhou/[^/]+/setting", dashboards["metrics"]
    )
    # The SLS project name ends in a random suffix only the cloud run knows.
    assert dashboards["logs"] == (
        "https://sls.console.aliyun.com/lognext/project/prod-observability-logs-(known after apply)"
        "/logsearch/containers?slsRegion=cn-hangzhou"
    )
    assert found["prod"]["servings"]["color"]["metrics"] == dashboards["metrics"]


def test_the_table_names_the_header(capsys):
    assert cli.main(["--project-dir", str(ROOT), "--color", "never", "endpoints", "-s", "prod"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.split()[:1] == ["style"])
    assert "requests with header 'style: transfer' (shares color's URL)" in row


def test_aws_console_links():
    from mlplatform.infra.consoles import dashboards

    links = dashboards("aws", "eu-west-1", "", "id", "prod-cluster")
    assert links == {
        "metrics": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#container-insights:infrastructure",
        "logs": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Faws$252Fcontainerinsights$252Fprod-cluster$252Fapplication",
    }


def test_alibaba_console_links_name_the_sls_project_the_stack_created():
    from mlplatform.infra.consoles import dashboards

    links = dashboards("alicloud", "cn-hangzhou", "prod-observability-logs-a1b2c3", "c123", "prod-cluster")
    assert links["logs"].startswith("https://sls.console.aliyun.com/lognext/project/prod-observability-logs-a1b2c3/")
    assert links["metrics"] == "https://arms.console.aliyun.com/#/promDetail/cn-hangzhou/c123/setting"
