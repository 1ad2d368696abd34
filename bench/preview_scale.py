"""What a user waits for: `python -m mlplatform preview -s prod`, the whole process, at scale.

    .venv/bin/python bench/preview_scale.py [--series servings|jobs] [--repeat R] [--no-policy] [--phases] [N ...]
    (default: both series, N = 100 300 500 1000)

Two series: `servings`, where prod serves N copies of the two-predictor `color` serving (batching,
autoscaling) instead of its own servings, previewed with `-s prod` (which plans the shipped dev first);
and `jobs`, where dev runs N more copies of the `color-training` job, previewed with `-s dev`. Each N
runs on a temporary copy of the project (program, stacks, policy pack, config; quotas and budget raised
so that the copy is a valid plan). Then, in this one invocation and alternating:

- preview: the whole `python -m mlplatform preview -s prod` process (start-up, the dev plan the prod
  plan references, the prod plan, validation of every object, the policy pack's process, every file);
- floor: a bare Pulumi program in a fresh process that registers the same resources (type, name, inputs,
  parent; dev's then prod's, taken from the preview's stack.json files) under the same mock runtime
  (`pulumi.runtime.set_mocks`), with nothing else: what the SDK itself costs for this plan.

Columns: resources planned (dev + prod, as in stack.json), median wall seconds of each, their ratio,
peak RSS of the preview's main process (exact: the kernel's maxrss of the waited-for process) and of its
process tree (main + policy pack, summed from /proc every 20 ms), and the floor's. The last line is
t(1000)/t(500) when both sizes ran: growth should stay linear (<= 2.15).

The preview runs through `bench/phases.py` (the same `mlp preview`, with marks at its phases' boundaries) and
the floor marks its own; `--phases` prints, after each row, the seconds and the process's own peak RSS of each
phase beside the floor's (start-up, dev plan and prod plan are the same registrations in both).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PHASES = Path(__file__).resolve().with_name("phases.py")
PYTHON = sys.executable
DEFAULT_SIZES = (100, 300, 500, 1000)
BIG_QUOTA = {"cpu": "1000000", "memory": "1000000Gi", "pods": 1000000}
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# The floor: the same registrations with nothing but the SDK and its mock runtime.
FLOOR = r"""
import json, sys, time
from pathlib import Path

STARTED, MARKS = time.time(), []


def mark(name):  # as bench/phases.py marks the preview's phases
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    MARKS.append({"phase": name, "at": time.time(), "peak_kib": int(status["VmHWM"].split()[0]),
                  "rss_kib": int(status["VmRSS"].split()[0])})
    Path("/proc/self/clear_refs").write_text("5")


import pulumi
from pulumi.runtime import settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await


class Echo(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return f"{args.name}-id", args.inputs

    def call(self, args):
        return {}


SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def plain(value):  # an exported secret ({sig, ciphertext}) as its placeholder text
    if isinstance(value, dict):
        if value.get("4dabf18193072939515e22adb298388d") == SECRET_SIG:
            return value.get("ciphertext", "")
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def plan(records, stack):
    def program():
        made = {}
        for record in records:
            type_, urn = record["type"], record["urn"]
            if type_.startswith("pulumi:providers:") or type_ == "pulumi:pulumi:Stack" or record.get("external"):
                continue
            opts = pulumi.ResourceOptions(parent=made.get(record.get("parent", "")))
            name = urn.split("::")[-1]
            if record.get("custom"):
                made[urn] = pulumi.CustomResource(type_, name, plain(record.get("inputs") or {}), opts=opts)
            else:
                made[urn] = pulumi.ComponentResource(type_, name, None, opts=opts)

    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(Echo(), project="floor", stack=stack, preview=False)
    settings.set_root_resource(None)
    _sync_await(run_in_stack(program))


mark("start-up")
plans = [(path.split("/")[-2], json.load(open(path))["deployment"]["resources"]) for path in sys.argv[2:]]
mark("read plans")
for index, (stack, resources) in enumerate(plans):
    plan(resources, stack)
    mark("dev plan" if index < len(plans) - 1 else "prod plan")
Path(sys.argv[1]).write_text(json.dumps({"started": STARTED, "marks": MARKS}))  # then the usual exit
"""


def machine() -> str:
    """`2 x AMD EPYC ...`: nproc and the CPU model, for quoting figures with the machine they came from."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=YAML_LOADER)


def _dump(document: dict, path: Path) -> None:
    path.write_text(yaml.dump(document, Dumper=YAML_DUMPER, sort_keys=False))


def _roomy(config: dict) -> None:
    """Quotas and budget that hold any N (the bench measures planning, not the quota rules)."""
    teams = config.setdefault("ml-platform:teams", {"default": {}})
    for team in teams.values():
        team["quota"] = dict(BIG_QUOTA)
        if "quotas" in team:
            team["quotas"] = {namespace: dict(BIG_QUOTA) for namespace in team["quotas"]}
    if "ml-platform:budget" in config:
        config["ml-platform:budget"]["monthlyMax"] = 10**12


def project_with(folder: Path, servings: int = 0, jobs: int = 0) -> Path:
    """A copy of the project under `folder`: prod serves `servings` copies of `color` (instead of its
    servings) when `servings` is given, dev trains `jobs` more copies of `color-training`."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, folder / name)
    ignore = shutil.ignore_patterns("__pycache__", "tests", "venv", ".venv")
    shutil.copytree(ROOT / "stacks", folder / "stacks", ignore=ignore)
    shutil.copytree(ROOT / "policies", folder / "policies", ignore=ignore)
    dev, prod = _load(ROOT / "Pulumi.dev.yaml"), _load(ROOT / "Pulumi.prod.yaml")
    training = dev["config"]["ml-platform:trainingJobs"]
    template = training["color-training"]
    for index in range(jobs):
        training[f"color-training-{index}"] = template
    _roomy(dev["config"])
    if servings:
        color = prod["config"]["ml-platform:servings"]["color"]
        prod["config"]["ml-platform:servings"] = {f"color-{index}": color for index in range(servings)}
    _roomy(prod["config"])
    _dump(dev, folder / "Pulumi.dev.yaml")
    _dump(prod, folder / "Pulumi.prod.yaml")
    return folder


class _TreeRss:
    """Peak summed RSS of a process and its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval, self.peak_kib = pid, interval, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self, pid: int) -> list[int]:
        pids = [pid]
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                    pids += self._tree(int(child))
        except OSError:
            pass
        return pids

    @staticmethod
    def _rss_kib(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self.peak_kib = max(self.peak_kib, sum(self._rss_kib(pid) for pid in self._tree(self.pid)))

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak_kib


def _phases(marks_file: Path, started: float, ended: float) -> list[dict]:
    """The phases of a process from its marks (bench/phases.py, the floor's): seconds and peak RSS (MiB) of
    each; `start-up` counts from the bench's Popen, `exit` from the last mark to the end of the process."""
    marks = json.loads(marks_file.read_text())["marks"]
    phases, previous = [], started
    for item in marks:
        phases.append({"phase": item["phase"], "seconds": item["at"] - previous, "peak_mib": item["peak_kib"] / 1024})
        previous = item["at"]
    phases.append({"phase": "exit", "seconds": ended - previous, "peak_mib": marks[-1]["rss_kib"] / 1024})
    return phases


def _run(argv: list[str], cwd: Path, ok=(0,), marks: Path | None = None) -> dict:
    """Wall seconds, exit code and peak RSS (MiB: the process's own, and its tree's, sampled) of one process;
    with `marks` (the file the process writes its phase marks to), its phases."""
    started, epoch = time.perf_counter(), time.time()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree = _TreeRss(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    ended = epoch + seconds
    process.returncode = os.waitstatus_to_exitcode(status)
    tree_kib = tree.stop()
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{stderr[-3000:]}")
    peak = usage.ru_maxrss / 1024  # kernel: KiB on Linux; the largest of the process and its reaped children
    phases = _phases(marks, epoch, ended) if marks is not None else []
    if phases:  # the marks reset the kernel's peak: the process's own is the largest of its phases'
        peak = max(phase["peak_mib"] for phase in phases)
    return {
        "seconds": seconds,
        "code": process.returncode,
        "peak_mib": peak,
        "tree_mib": max(peak, tree_kib / 1024),
        "phases": phases,
    }


def _count(stack_json: Path) -> int:
    return len(json.loads(stack_json.read_text())["deployment"]["resources"])


SERIES = {  # series -> (the stack previewed, what N counts)
    "servings": ("prod", "two-predictor servings in prod"),
    "jobs": ("dev", "training jobs in dev"),
}


def measure(n: int, series: str = "servings", repeat: int = 1, policy: bool = True) -> dict:
    """Preview and floor of one size, `repeat` times each, alternating; medians of the times."""
    stack = SERIES[series][0]
    with tempfile.TemporaryDirectory(prefix=f"mlp-bench-{series}-{n}-") as tmp:
        project = project_with(Path(tmp), servings=n if series == "servings" else 0, jobs=n if series == "jobs" else 0)
        out = Path(tmp) / "build"
        command = ["preview", "-s", stack, "-C", str(project), "--out", str(out)]
        command += [] if policy else ["--no-policy"]
        preview_marks, floor_marks = Path(tmp) / "preview-marks.json", Path(tmp) / "floor-marks.json"
        # `python -m mlplatform preview ...`, with the marks of its phases (bench/phases.py).
        argv = [PYTHON, str(PHASES), str(preview_marks), *command]
        # The plans the floor registers: the referenced dev plan (prod plans it first) and the stack's own.
        planned = [out / name / "stack.json" for name in dict.fromkeys(("dev", stack))]
        if stack != "dev":
            dev = [PYTHON, "-m", "mlplatform", "preview", "-s", "dev", *command[3:], "--no-policy"]
            subprocess.run(dev, cwd=ROOT, capture_output=True, check=True)
        floor_file = Path(tmp) / "floor.py"
        floor_file.write_text(FLOOR)
        previews, floors = [], []
        for _ in range(repeat):
            # 1: a mandatory policy verdict, still a whole preview
            previews.append(_run(argv, ROOT, ok=(0, 1), marks=preview_marks))
            floors.append(
                _run([PYTHON, str(floor_file), str(floor_marks), *map(str, planned)], ROOT, marks=floor_marks)
            )
        preview_s = statistics.median(r["seconds"] for r in previews)
        floor_s = statistics.median(r["seconds"] for r in floors)
        return {
            "phases": _median_phases(previews),
            "floor_phases": _median_phases(floors),
            "series": series,
            "n": n,
            "resources": sum(_count(path) for path in planned),
            "preview_s": preview_s,
            "floor_s": floor_s,
            "ratio": preview_s / floor_s,
            "peak_mib": max(r["peak_mib"] for r in previews),
            "tree_mib": max(r["tree_mib"] for r in previews),
            "floor_mib": max(r["peak_mib"] for r in floors),
            "exit": previews[-1]["code"],
            "runs": repeat,
        }


def _median_phases(runs: list[dict]) -> dict[str, dict]:
    """Phase -> median seconds and largest peak RSS over the runs."""
    names = [phase["phase"] for phase in runs[0]["phases"]]
    return {
        name: {
            "seconds": statistics.median(p["seconds"] for r in runs for p in r["phases"] if p["phase"] == name),
            "peak_mib": max(p["peak_mib"] for r in runs for p in r["phases"] if p["phase"] == name),
        }
        for name in names
    }


def phase_table(row: dict) -> str:
    """The preview's phases beside the floor's (the same name: the same registrations), and what each costs
    above it: seconds and the process's own peak RSS in the phase."""
    lines = [
        f"{row['series']} N={row['n']}: {'phase':<16} {'s':>7} {'floor s':>7} {'above':>7} {'MiB':>6} {'floor':>6}"
    ]
    pad = " " * len(f"{row['series']} N={row['n']}: ")
    floor = row["floor_phases"]
    names = list(row["phases"])
    for before, name in zip(["start-up", *floor], floor, strict=False):  # the floor's own, after its previous one
        if name not in names:
            names.insert(names.index(before) + 1 if before in names else len(names), name)
    for name in names:
        mine, theirs = row["phases"].get(name), floor.get(name)
        seconds = mine["seconds"] if mine else 0.0
        floor_s = theirs["seconds"] if theirs else 0.0
        mib = f"{mine['peak_mib']:>6.0f}" if mine else f"{'':>6}"
        floor_mib = f"{theirs['peak_mib']:>6.0f}" if theirs else f"{'':>6}"
        lines.append(f"{pad}{name:<16} {seconds:>7.2f} {floor_s:>7.2f} {seconds - floor_s:>+7.2f} {mib} {floor_mib}")
    return "\n".join(lines)


COLUMNS = [  # key, title, width, format
    ("series", "series", 8, ""),
    ("n", "N", 5, "d"),
    ("resources", "resources", 9, "d"),
    ("preview_s", "preview s", 9, ".2f"),
    ("floor_s", "floor s", 8, ".2f"),
    ("ratio", "ratio", 6, ".2f"),
    ("peak_mib", "main MiB", 8, ".0f"),
    ("tree_mib", "tree MiB", 8, ".0f"),
    ("floor_mib", "floor MiB", 9, ".0f"),
    ("exit", "exit", 4, "d"),
]


def header() -> str:
    return " ".join(f"{title:>{width}}" for _, title, width, _ in COLUMNS)


def row_line(row: dict) -> str:
    return " ".join(f"{row[key]:>{width}{spec}}" for key, _, width, spec in COLUMNS)


def table(rows: list[dict]) -> str:
    lines = [header(), *map(row_line, rows)]
    for series in SERIES:
        by_size = {row["n"]: row["preview_s"] for row in rows if row["series"] == series}
        if 1000 in by_size and 500 in by_size:
            lines.append(f"{series}: t(1000)/t(500) = {by_size[1000] / by_size[500]:.2f}")
    return "\n".join(lines)


def run(
    sizes, series=("servings",), repeat: int = 1, policy: bool = True, echo=print, phases: bool = False
) -> list[dict]:
    """Measure every size of every series; `echo` gets the machine, the header and each row when measured
    (with `phases`, each row's phase table after it)."""
    echo(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at start")
    echo(header())
    rows = []
    for name in series:
        for size in sizes:
            rows.append(measure(size, name, repeat, policy))
            echo(row_line(rows[-1]))
            if phases:
                echo(phase_table(rows[-1]))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each program per size (median time)")
    parser.add_argument("--no-policy", action="store_true", help="preview without the policy pack")
    parser.add_argument(
        "--series", action="append", choices=sorted(SERIES), help="servings (prod) and/or jobs (dev); default both"
    )
    parser.add_argument("--phases", action="store_true", help="each size's phases, beside the floor's")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    series = args.series or list(SERIES)
    rows = run(
        args.sizes,
        series,
        args.repeat,
        not args.no_policy,
        echo=lambda line: print(line, flush=True),
        phases=args.phases,
    )
    print()
    print(table(rows))
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
