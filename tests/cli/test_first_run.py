"""What a new user trips on first (issue 24): the SSO notebook's endpoint and secret, a closed pipe, the CRDs of
a `-C` project, `--json` errors, a web service that only names its serving, and the small things of `traffic`."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlplatform import cli
from mlplatform.offline.preview import run_preview

ROOT = Path(__file__).resolve().parents[2]
SECRET = "  ml-platform-secrets:oidcClientSecret:\n    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBBBBBB\n"


def run(project: Path, capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--color", "never", "-C", str(project), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def edit(project: Path, stack: str, old: str, new: str) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def with_sso(project: Path, secret: str = "") -> None:
    """The dev stack with notebookSso in front of its notebook (and the client secret, if given)."""
    old = "  ml-platform:notebooks:\n    data-science:\n"
    edit(project, "dev", old, old + "      allowedGroups: [data-science]\n")
    path = project / "Pulumi.dev.yaml"
    path.write_text(
        path.read_text()
        + "  ml-platform:notebookSso:\n"
        + "    issuerUrl: https://login.example.com/realms/ml\n"
        + "    clientId: notebooks\n"
        + secret
    )


# ---------------------------------------------------------------- 2, 3: notebooks behind SSO


def test_endpoints_send_a_notebook_behind_sso_through_its_proxy(project, capsys):
    with_sso(project, SECRET)

    code, out, _ = run(project, capsys, "endpoints", "-s", "dev", "--json")

    assert code == 0
    assert json.loads(out)["notebooks"]["data-science"]["access"] == (
        "kubectl -n notebooks port-forward svc/data-science-sso 4180:80"
    )


SSO_SECRET_MISSING = (
    "Pulumi.dev.yaml:{line}:3: ml-platform:notebookSso: needs its OIDC client secret, "
    "ml-platform-secrets:oidcClientSecret, which is not set: run "
    "`pulumi config set --stack dev --secret ml-platform-secrets:oidcClientSecret <value>` "
    "(to preview offline without it: `MLP_PLACEHOLDER_SECRETS=1 mlp preview -s dev`)"
)


def test_sso_without_its_secret_is_a_config_error_that_says_how_to_set_it(project, capsys, tmp_path):
    with_sso(project)
    line = (project / "Pulumi.dev.yaml").read_text().splitlines().index("  ml-platform:notebookSso:") + 1

    code, out, err = run(project, capsys, "preview", "-s", "dev", "--no-policy", "--out", str(tmp_path / "out"))

    assert (code, out) == (2, "")
    assert err == f"error: {SSO_SECRET_MISSING.format(line=line)}\n"
    assert not (tmp_path / "out").exists()


def test_under_pulumi_up_the_program_refuses_sso_without_its_secret_with_the_same_message(project, plan, monkeypatch):
    """`pulumi up` runs the same `config.load()`, with the config the CLI hands the program (here, as the mock
    engine is given it), from the project folder."""
    import pulumi

    from mlplatform import config
    from mlplatform.offline import stackfiles

    with_sso(project)
    line = (project / "Pulumi.dev.yaml").read_text().splitlines().index("  ml-platform:notebookSso:") + 1
    files = stackfiles.load(project, "dev")
    pulumi.runtime.set_all_config(files.config, files.secret_keys)
    monkeypatch.chdir(project)
    refused = []

    def program():
        try:
            config.load()
        except config.ConfigError as error:
            refused.append(str(error))

    plan(program)

    assert refused == [SSO_SECRET_MISSING.format(line=line)]


def test_offline_a_placeholder_stands_for_the_missing_secret_when_asked(project, monkeypatch):
    with_sso(project)
    monkeypatch.setenv("MLP_PLACEHOLDER_SECRETS", "1")

    result = run_preview("dev", project)

    assert result.outputs["notebookSignOn"]["data-science"].endswith("svc/data-science-sso 4180:80")


# ---------------------------------------------------------------- 5: a reader that goes away


@pytest.mark.parametrize(
    "argv",
    [
        ["schema"],  # more than a pipe holds: the print itself fails
        ["endpoints", "-s", "dev", "--json"],  # less: the last flush fails
    ],
    ids=["while-printing", "at-the-last-flush"],
)
def test_output_into_a_closed_pipe_exits_141_quietly(argv):
    process = subprocess.Popen(
        [sys.executable, "-m", "mlplatform", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # `| head` that has read enough
    code = process.wait(timeout=120)
    assert (code, process.stderr.read()) == (141, b"")


# ---------------------------------------------------------------- 6: the CRDs of a -C project, offline download


def test_the_crds_beside_a_dash_c_project_are_found_from_elsewhere(tmp_path, monkeypatch, capsys):
    team = tmp_path / "team"  # team/ml-platform (the project), team/shared/crds; run from tmp_path
    (team / "ml-platform").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", team / "ml-platform")
    shared = team / "shared" / "crds"
    shared.mkdir(parents=True)
    monkeypatch.delenv("MLP_CRD_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    code, out, _ = run(team / "ml-platform", capsys, "crds", "where")

    assert (code, out) == (0, f"{shared}\n")


def test_crds_download_without_network_is_one_line_naming_the_url_and_what_to_do(monkeypatch, tmp_path, capsys):
    from mlplatform.validation import crds

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # nothing listens there: as without network
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    code, out, err = run(ROOT, capsys, "crds", "download")

    first = crds.sources()[0]["url"]
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert err.startswith(f"error: cannot download {first} (")
    assert "nothing written. Without network, set MLP_CRD_DIR to a folder holding the CRD files" in err
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------- 8: --json errors


@pytest.mark.parametrize(
    "argv",
    [
        ["preview", "-s", "dev"],
        ["endpoints", "-s", "dev"],
        ["cost", "-s", "dev"],
        ["images", "-s", "dev"],
        ["diff", "dev", "prod"],
    ],
    ids=lambda argv: argv[0],
)
def test_json_config_errors_go_to_stdout_with_their_place(project, capsys, argv):
    edit(project, "dev", "      port: 3333\n", "      prot: 3333\n")
    line = (project / "Pulumi.dev.yaml").read_text().splitlines().index("      prot: 3333") + 1

    code, out, err = run(project, capsys, *argv, "--json")

    assert code == 2
    assert json.loads(out) == {
        "errors": [
            {
                "file": "Pulumi.dev.yaml",
                "line": line,
                "column": 7,
                "path": "ml-platform:webServices.color-client.prot",
                "message": "unknown key (did you mean 'port'?)",
            }
        ]
    }
    assert f"Pulumi.dev.yaml:{line}:7: ml-platform:webServices.color-client.prot: unknown key" in err


def test_json_usage_errors_go_to_stdout_too(project, capsys):
    code, out, _ = run(project, capsys, "endpoints", "-s", "qa", "--json")

    assert code == 2
    [error] = json.loads(out)["errors"]
    assert error["file"] is None and error["path"] is None
    assert error["message"].startswith("unknown stack 'qa': the stacks are dev, prod")


# ---------------------------------------------------------------- 10: a web service that names only its serving


def test_a_web_service_naming_its_serving_without_depends_on_plans(project):
    edit(project, "dev", "      serving: color\n      dependsOn:\n        - color\n", "      serving: color\n")

    result = run_preview("dev", project)

    [deployment] = [
        m for m in result.manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "color-client"
    ]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SERVING_URL"] == result.outputs["endpoints"]["color"]


# ---------------------------------------------------------------- 15: nits


def test_help_explains_every_traffic_argument_and_names_no_fixed_stacks():
    traffic = subprocess.run(
        [sys.executable, "-m", "mlplatform", "traffic", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert traffic.returncode == 0
    usage = " ".join(traffic.stdout.split())
    assert "--serving SERVING the serving whose split is set" in usage
    assert "PREDICTOR=PERCENT a share for every live predictor" in usage
    assert "(dev, prod)" not in usage and "Pulumi.STACK.yaml" in usage


def test_traffic_takes_a_percent_sign(project, capsys):
    code, _, err = run(project, capsys, "traffic", "-s", "prod", "--serving", "color", "v1=50%", "v2=50%")

    assert (code, err) == (0, "")
    text = (project / "Pulumi.prod.yaml").read_text()
    assert "          traffic: 50\n" in text and "%" not in text.split("ml-platform:servings:")[1].split("\n")[3]


def test_an_unknown_serving_gets_a_suggestion(project, capsys):
    code, _, err = run(project, capsys, "traffic", "-s", "prod", "--serving", "colr", "v1=100")

    assert code == 2
    assert err.startswith("error: unknown serving 'colr' in stack prod (did you mean 'color'?): its servings are")


@pytest.mark.parametrize(
    "argv",
    [["preview", "-s", "dev"], ["endpoints", "-s", "dev"], ["traffic", "-s", "prod", "--serving", "color", "v1=100"]],
    ids=lambda argv: argv[0],
)
def test_outside_a_project_the_message_says_where_to_run(tmp_path, capsys, argv):
    code, out, err = run(tmp_path, capsys, *argv)

    assert (code, out) == (2, "")
    assert err == (
        f"error: no Pulumi project here ({tmp_path} has no Pulumi.yaml): run in the ml-platform folder or pass "
        "-C <folder>\n"
    )
