"""What `mlp preview` and `mlp endpoints` print for people: within the terminal's width, outputs as YAML,
outputs meant for tools left out, a console link once."""

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml

from mlplatform import cli
from mlplatform.cli.output import shorten, table, wrap

ROOT = Path(__file__).resolve().parents[2]


def printed(*argv: str, columns: int | None = 80, project: Path = ROOT) -> str:
    """What `mlp ...` prints on a terminal `columns` wide (COLUMNS, as `shutil.get_terminal_size` reads it), or
    with `columns=None` into a pipe."""
    stream = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stream):
        if columns is None:
            patch.delenv("COLUMNS", raising=False)
        else:
            patch.setenv("COLUMNS", str(columns))
        assert cli.main(["--project-dir", str(project), "--color", "never", *argv]) == 0
    return stream.getvalue()


@pytest.fixture(scope="module")
def prod_preview(tmp_path_factory) -> str:
    """`mlp preview -s prod` (policy pack on) on an 80-column terminal, in a copy of the project (it writes
    `build/prod`, as the user's run would)."""
    project = tmp_path_factory.mktemp("project")
    for name in ["Pulumi.yaml", "__main__.py", *(p.name for p in ROOT.glob("Pulumi.*.yaml"))]:
        shutil.copy(ROOT / name, project / name)
    for folder in ("stacks", "policies"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    return printed("preview", "-s", "prod", project=project)


@pytest.fixture(scope="module")
def prod_endpoints() -> str:
    return printed("endpoints", "-s", "prod")


def wide(text: str, columns: int) -> list[str]:
    return [line for line in text.splitlines() if len(line) > columns]


def test_the_preview_fits_an_80_column_terminal(prod_preview):
    assert "Previewing update (prod) offline:" in prod_preview
    assert "Policies:" in prod_preview and "validated " in prod_preview
    assert wide(prod_preview, 80) == []


def test_a_wide_terminal_gets_whole_types_and_names(tmp_path):
    out = printed("preview", "-s", "dev", "--no-policy", "--out", str(tmp_path), columns=250)
    tree = out.split("Outputs:")[0]
    assert "…" not in tree
    assert "alicloud:oss/bucketServerSideEncryption:BucketServerSideEncryption" in tree


def test_outputs_are_indented_yaml(prod_preview):
    outputs = prod_preview.split("\nOutputs:\n", 1)[1].split("\n\n", 1)[0]
    assert not [line for line in outputs.splitlines() if re.match(r"\s+\w+: [{[][^]}]", line)]
    document = yaml.safe_load("\n".join(line for line in outputs.splitlines() if not line.strip().startswith("(")))
    assert document["servings"]["color"]["traffic"] == {"v1": 90, "v2": 10}
    assert document["servings"]["style"]["header"] == {"name": "style", "value": "transfer"}
    assert document["clusterName"] == "prod-cluster"
    assert document["kubeconfig"] == "[secret]"
    # A value too long for the line is cut in the middle, and the summary says where it is whole.
    assert "…" in outputs and "(Values cut to fit at …: whole in build/prod/stack.json and with --json.)" in outputs


def test_outputs_for_tools_are_not_shown_but_stay_in_the_plan(prod_preview, tmp_path):
    assert "costBasis" not in prod_preview.replace("(Not shown, for tools: costBasis.)", "")
    import json

    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        cli.main(["--project-dir", str(ROOT), "preview", "-s", "prod", "--no-policy", "--json", "--out", str(tmp_path)])
    assert "costBasis" in json.loads(stream.getvalue())["outputs"]
    stack = json.loads((tmp_path / "prod" / "stack.json").read_text())["deployment"]["resources"][0]
    assert stack["type"] == "pulumi:pulumi:Stack" and "costBasis" in stack["outputs"]


def test_dev_hides_the_versions_it_publishes_for_prod(tmp_path):
    out = printed("preview", "-s", "dev", "--no-policy", "--out", str(tmp_path))
    assert "\n    modelVersions:" not in out and "(Not shown, for tools: costBasis, modelVersions.)" in out


def test_endpoints_fit_80_columns_and_wrap_without_losing_a_character(prod_endpoints):
    assert wide(prod_endpoints, 80) == []
    joined = re.sub(r"([/?&#,;])\n +", r"\1", prod_endpoints)
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        cli.main(["--project-dir", str(ROOT), "endpoints", "-s", "prod", "--json"])
    import json

    found = json.loads(stream.getvalue())
    for serving in found["servings"].values():
        assert serving["url"] in joined and serving["externalUrl"] in joined
    for link in found["dashboards"].values():
        assert link in joined


def test_into_a_pipe_every_line_stays_whole():
    out = printed("endpoints", "-s", "prod", columns=None)
    assert (
        "    in cluster     http://emissary-ingress.emissary.svc.cluster.local/seldon/models/color/v1/models/color:predict\n"
        in out
    )
    assert "wrap" not in out


def test_console_links_appear_once(prod_endpoints):
    # Every serving of prod links the cluster's two consoles: listed once, under Consoles.
    assert prod_endpoints.count("arms.console.aliyun.com") == 1
    assert prod_endpoints.count("sls.console.aliyun.com") == 1
    assert "Consoles (the cluster's metrics and logs, every serving's too)" in prod_endpoints


def test_each_serving_lists_its_addresses_under_what_selects_it(prod_endpoints):
    lines = prod_endpoints.splitlines()
    color = next(i for i, line in enumerate(lines) if line.split()[:1] == ["color"])
    assert lines[color].split(None, 1)[1] == "traffic v2=10%, v1=90%"
    assert lines[color + 1].split()[:2] == ["in", "cluster"]
    assert [line.split()[:2] for line in lines if "load balancer" in line] == [["load", "balancer"]] * 4


def test_wrap_and_shorten():
    url = "http://emissary-ingress.emissary.svc.cluster.local/seldon/models/color/v1/models/color:predict"
    assert wrap(url, 60) == [
        "http://emissary-ingress.emissary.svc.cluster.local/seldon/",
        "models/color/v1/models/color:predict",
    ]
    assert "".join(wrap(url, 20)) == url  # no break character near the end: cut at the width
    assert wrap("after `kubectl -n notebooks port-forward svc/x 8888:80`", 30) == [
        "after `kubectl -n notebooks",
        "port-forward svc/x 8888:80`",
    ]
    assert shorten("│  ├─ alicloud:oss/bucketAcl:BucketAcl", 20, keep=6) == "│  ├─ aliclo…cketAcl"
    assert table([("a", "x" * 30), ("bbb", "y")], 20) == ["a    " + "x" * 15, "     " + "x" * 15, "bbb  y"]
