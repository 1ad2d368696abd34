"""`pip install .` leaves the checkout as it was (`git status` clean) and keeps out of `build/`, the preview's folder.

pip builds the wheel in the source tree: setuptools writes `<build-base>/lib`, `<build-base>/bdist.*` and
`<name>.egg-info` there. The real install was run once by hand in a fresh clone (`git status --porcelain` empty,
no `build/`); this checks the configuration that makes it so.
"""

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ignored(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "--quiet", path], cwd=ROOT, check=False).returncode == 0


def test_setuptools_builds_outside_the_previews_folder():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build_base = Path(project["tool"]["distutils"]["build"]["build-base"])
    assert not build_base.is_absolute() and build_base.parts[0] not in ("build", "..")


def test_what_pip_install_leaves_is_ignored_by_git():
    build_base = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["distutils"]["build"]["build-base"]
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"].replace("-", "_")
    for left in (
        f"{build_base}/lib/mlplatform/__init__.py",
        f"{build_base}/bdist.linux-x86_64/x",
        f"{name}.egg-info/PKG-INFO",
    ):
        assert _ignored(left), left
    assert not _ignored("mlplatform/__init__.py")
