"""Preview time and peak memory for a dev stack with 10, 100 and 1,000 model servings.

    .venv/bin/python bench/preview_scale.py [10 100 1000]

Each size runs in a fresh process (peak RSS is per process) on a copy of the project whose
Pulumi.dev.yaml serves N copies of the colour model. Cost should grow linearly with N.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MEASURE = """
import json, resource, sys, time
from pathlib import Path
from mlplatform.offline.preview import run_preview
started = time.perf_counter()
result = run_preview("dev", Path(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - started, "resources": len(result.resources),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def project_with(servings: int, folder: Path) -> Path:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "stacks", folder / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    template = document["config"]["ml-platform:servings"]["color"]
    document["config"]["ml-platform:servings"] = {f"color-{i}": template for i in range(servings)}
    document["config"].pop("ml-platform:webServices", None)
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    return folder


def measure(servings: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = project_with(servings, Path(tmp))
        run = subprocess.run(
            [sys.executable, "-c", MEASURE, str(project)], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return {"servings": servings, **json.loads(run.stdout.strip().splitlines()[-1])}


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [10, 100, 1000]
    print(f"{'servings':>8} {'resources':>9} {'seconds':>8} {'peak MiB':>9} {'ms/serving':>10}")
    for size in sizes:
        row = measure(size)
        print(
            f"{row['servings']:>8} {row['resources']:>9} {row['seconds']:>8.2f} {row['peak_mib']:>9.0f} "
            f"{1000 * row['seconds'] / size:>10.1f}"
        )


if __name__ == "__main__":
    main()
