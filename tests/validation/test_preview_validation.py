"""The preview validates every rendered object before it writes anything, and says where its CRDs came from."""

import hashlib
import io
import json
from pathlib import Path

import pytest

from mlplatform.cli import main
from mlplatform.validation import crds

ROOT = Path(__file__).resolve().parents[2]
BROKEN_OBJECT = """
import pulumi_kubernetes as k8s

# A ConfigMap whose data holds a number: the API server refuses it (data values are strings).
k8s.core.v1.ConfigMap("broken", metadata={"name": "broken", "namespace": "models"}, data={"threads": 4})
"""


def preview(project: Path, capsys) -> tuple[int, str, str]:
    code = main(
        ["--project-dir", str(project), "preview", "--stack", "dev", "--out", str(project / "build"), "--no-policy"]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_preview_reports_what_it_validated(project, capsys):
    code, out, _ = preview(project, capsys)
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("validated "))
    assert "built-in against Kubernetes 1.36" in line and "custom against upstream CRDs" in line


def test_an_invalid_object_is_exit_2_naming_the_object_and_field_and_nothing_is_written(project, capsys):
    with (project / "__main__.py").open("a") as program:
        program.write(BROKEN_OBJECT)
    code, _, err = preview(project, capsys)
    assert code == 2
    assert "ConfigMap/models/broken: data.threads: 4 is not of type 'string'" in err
    assert not (project / "build").exists()


def test_no_crds_anywhere_says_how_to_get_them(project, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(crds, "shared_dir", lambda: tmp_path / "no-shared")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv(crds.CRDS_DIR_ENV, raising=False)
    code, _, err = preview(project, capsys)
    assert code == 2
    assert "python -m mlplatform crds download" in err and crds.CRDS_DIR_ENV in err


def test_crd_lookup_order_is_env_then_shared_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(crds.CRDS_DIR_ENV, str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    assert crds.crds_dir() == tmp_path / "mine"
    monkeypatch.delenv(crds.CRDS_DIR_ENV)
    assert crds.crds_dir() == crds.shared_dir()
    monkeypatch.setattr(crds, "shared_dir", lambda: tmp_path / "no-shared")
    (tmp_path / "cache" / "mlplatform" / "crds").mkdir(parents=True)
    assert crds.crds_dir() == tmp_path / "cache" / "mlplatform" / "crds"


def fake_upstream(files: dict[str, bytes]):
    """An opener serving each pinned URL from `files` (by file name), as the upstream host would."""
    by_url = {source["url"]: files[source["file"]] for source in crds.sources()}
    return lambda url, timeout: io.BytesIO(by_url[url])


def test_download_checks_every_pinned_sha256(tmp_path):
    sources = crds.sources()
    assert len(sources) >= 20 and all(len(s["sha256"]) == 64 and s["url"].startswith("https://") for s in sources)
    shared = {s["file"]: (crds.shared_dir() / s["file"]).read_bytes() for s in sources}
    verbatim = {
        name: body
        for name, body in shared.items()
        if hashlib.sha256(body).hexdigest() in {s["sha256"] for s in sources}
    }
    assert "kubeflow.org_tfjobs.yaml" in verbatim  # the shared copies are the upstream bytes
    served = {s["file"]: b"tampered" for s in sources}
    served.update(verbatim)
    with pytest.raises(crds.CrdsMissing, match="is not the pinned"):
        crds.download(tmp_path / "cache", opener=fake_upstream(served))
    assert not (tmp_path / "cache").exists()  # nothing is written unless every file checks out


def test_download_writes_the_cache_when_every_file_checks_out(tmp_path, monkeypatch):
    bodies = {s["file"]: f"kind: {s['file']}".encode() for s in crds.sources()}
    pinned = [{**s, "sha256": hashlib.sha256(bodies[s["file"]]).hexdigest()} for s in crds.sources()]
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps(pinned))
    monkeypatch.setattr(crds, "SOURCES", pins)
    written = crds.download(tmp_path / "cache", opener=fake_upstream(bodies))
    assert (
        len(written) == len(pinned)
        and (tmp_path / "cache" / "kubeflow.org_tfjobs.yaml").read_bytes() == bodies["kubeflow.org_tfjobs.yaml"]
    )
