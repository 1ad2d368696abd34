"""`check_all` in a worker process, fed while the plan is still being made.

Validation is pure Python work on every object (jsonschema over the Kubernetes and CRD schemas). The
preview hands each Kubernetes object to `BackgroundCheck.add` the moment the program registers it; batches
go to one worker process, which checks them on the machine's other core while the program keeps planning,
and `result()` gathers the same `Validation` that `check_all` gives for the whole list. The worker is a plain
`python -c` child speaking pickles over its stdin and stdout, started once per process and kept (with its
schema caches); it checks against the CRD folder the preview resolved, so both read the same files.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from pathlib import Path

from mlplatform.validation import Validation, check_all, crds

BATCH = 64  # objects a message: enough to amortize pickling, few enough to keep the worker busy meanwhile
_STOP = None


def serve() -> None:
    """The worker's loop: (objects, Kubernetes version, CRD folder) in, a Validation out, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            objs, kubernetes_version, crd_dir = pickle.load(stdin)
        except EOFError:
            return
        os.environ[crds.CRDS_DIR_ENV] = crd_dir
        pickle.dump(check_all(objs, kubernetes_version), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


class _Worker:
    """The child process and a thread that writes to it, so that adding never waits for the child."""

    def __init__(self):
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from mlplatform.validation.background import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._send, name="validation-feed", daemon=True).start()

    def _send(self) -> None:
        while (message := self.outbox.get()) is not _STOP:
            try:
                pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError):
                return

    def receive(self) -> Validation:
        try:
            return pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"the validation worker exited with code {self.process.wait()}") from None


_worker: _Worker | None = None
_worker_lock = threading.Lock()


def _the_worker() -> _Worker:
    global _worker
    if _worker is None or _worker.process.poll() is not None:
        _worker = _Worker()
    return _worker


class BackgroundCheck:
    """Collects objects from any thread; `result()` once every object has been added. A context manager,
    one at a time per process (previews run one after another): it holds the worker until it exits, and a
    check left without its result (the plan failed) takes the worker with it, unread answers and all."""

    def __init__(self, kubernetes_version: str):
        self.kubernetes_version = kubernetes_version
        self._crd_dir = str(crds.crds_dir())  # no CRDs at all: CrdsMissing now, before any planning
        self._batch: list[dict] = []
        self._sent = 0
        self._lock = threading.Lock()
        self._collected = False
        _worker_lock.acquire()
        try:
            self._worker = _the_worker()
        except BaseException:
            _worker_lock.release()
            raise

    def __enter__(self) -> BackgroundCheck:
        return self

    def __exit__(self, *_exc) -> None:
        global _worker
        if not self._collected:
            self._worker.outbox.put(_STOP)
            self._worker.process.kill()
            self._worker.process.wait()
            _worker = None
        _worker_lock.release()

    def add(self, obj: dict) -> None:
        with self._lock:
            self._batch.append(obj)
            if len(self._batch) >= BATCH:
                self._send()

    def _send(self) -> None:
        batch, self._batch = self._batch, []
        self._worker.outbox.put((batch, self.kubernetes_version, self._crd_dir))
        self._sent += 1

    def result(self) -> Validation:
        with self._lock:
            if self._batch:
                self._send()
        total = Validation(self.kubernetes_version)
        for _ in range(self._sent):
            part = self._worker.receive()
            total.builtin += part.builtin
            total.custom += part.custom
            total.unchecked += part.unchecked
            total.problems += part.problems
        self._collected = True
        total.problems.sort()  # batches come in registration order, which varies from run to run
        return total
