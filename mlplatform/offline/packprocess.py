"""The policy pack's plugin process, started the way the Pulumi CLI starts a Python pack (`analyzer.py`
talks to it): `python -u -m pulumi.policy <engine-address> .` in the pack's folder, its port read from stdout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import yaml


class PolicyPackError(Exception):
    """The pack did not start, failed a call, or was given config its schema rejects."""


class PackProcess:
    """The pack's plugin process: started like the CLI starts it, its port read from stdout, always stopped."""

    def __init__(self, pack_dir: Path, project: str, stack: str):
        env = {**os.environ, "PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"}
        env.setdefault("PULUMI_ORGANIZATION", "organization")
        # The engine address is unused offline: the pack reports through gRPC answers, not engine logs.
        argv = [_pack_python(pack_dir), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."]
        self.process = subprocess.Popen(
            argv, cwd=pack_dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._stderr: list[bytes] = []
        self._stderr_reader = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_reader.start()

    def _drain_stderr(self) -> None:
        for chunk in iter(lambda: self.process.stderr.read1(4096), b""):
            self._stderr.append(chunk)

    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace").strip()

    def port(self, timeout: float) -> int:
        found: list[bytes] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = found[0].strip() if found else b""
        if not line.isdigit():
            self.stop()
            if not found:
                why = f"printed no port within {timeout:.0f}s"
            elif not line:
                why = f"exited with code {self.process.returncode} before printing its port"
            else:
                why = f"printed {line.decode(errors='replace')!r} instead of its port"
            raise PolicyPackError(f"policy pack did not start: it {why}\n{self.stderr()}".rstrip())
        return int(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr_reader.join(timeout=1)
        self.process.stdout.close()
        self.process.stderr.close()


def _pack_python(pack_dir: Path) -> str:
    """The interpreter of the pack's own virtualenv (PulumiPolicy.yaml `virtualenv`) if it exists, else ours."""
    runtime = pack_project(pack_dir).get("runtime")
    virtualenv = runtime.get("options", {}).get("virtualenv") if isinstance(runtime, dict) else None
    python = pack_dir / virtualenv / "bin" / "python" if virtualenv else None
    return str(python) if python is not None and python.exists() else sys.executable


def pack_project(pack_dir: Path) -> dict:
    path = pack_dir / "PulumiPolicy.yaml"
    if not path.is_file():
        raise PolicyPackError(f"{pack_dir} is not a policy pack: no PulumiPolicy.yaml")
    return yaml.safe_load(path.read_text()) or {}
