"""Property checks in worker processes (``verigrad check --jobs N``), verdicts yielded as they finish.

Engines cannot be pickled, so every worker loads its own, once, from the sources
the user gave (built-in names or ``module:attribute``, with the same options such
as ``device``) and the parent's ``sys.path``, so an adapter in the current
directory loads there too.  Workers are started with ``spawn``: the parent has
jax and torch loaded, and forking after their threads have started is unsafe.
Each worker runs one check at a time on all its engines, which share the
examples (:func:`~verigrad.runner.run_group`), on its main thread, where the
SIGALRM time limit per check works; it works through the checks of one case
before the next (:class:`_Queue`), so that compiled code is reused.

A worker that dies (a segfault in an engine, say) costs only the check it was
running: if several engines shared it, each is re-run alone to find the one
that crashes; that one gets a FAIL verdict diagnosed ``crashed`` naming the
exit, and a fresh worker takes over.  After :data:`CRASH_LIMIT` such deaths in one
engine's checks, that engine's checks not yet run get the same verdict without
running.  A worker that ignores the time limit (stuck in C code) is killed
:data:`GRACE_SECONDS` after it, and its check is a timeout.  Workers ignore
Ctrl-C: the parent stops them when it is interrupted (or the generator closed).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from verigrad.compare import failed_verdict, new_verdict
from verigrad.diagnosis import Diagnosis
from verigrad.oracles import EngineLoadError, load_engine
from verigrad.records import Verdict
from verigrad.runner import CheckSpec, group_key, run_group
from verigrad.tolerance import PROBABILISTIC

#: Worker deaths in one engine's checks after which its remaining checks are not run.
CRASH_LIMIT = 3
#: How long past the per-check limit a silent worker is given before it is killed.
GRACE_SECONDS = 30.0


class WorkerError(Exception):
    """A worker could not start (e.g. an engine failed to load in it); the message is one line."""


@dataclass
class _Worker:
    process: Any
    conn: Connection
    ready: bool = False
    task: list[int] | None = None  # indices of the specs it is checking (one check, its engines)
    started: float = 0.0
    overdue: bool = False
    #: The rest of the checks of the case it is working through.
    group: deque[list[int]] = field(default_factory=deque)


class _Queue:
    """The checks not yet handed out, each a list of spec indices (its engines), grouped by case, in plan order.

    A worker works through a whole case, so that what an engine compiles or caches
    for a case (jax traces and compiles each function once per process) is reused,
    not done again in every worker.  With no case left, an idle worker takes the
    second half of the checks another worker holds.
    """

    def __init__(self, specs: list[CheckSpec]) -> None:
        self.specs = specs
        checks: dict[tuple[Any, ...], list[int]] = {}
        for index, spec in enumerate(specs):
            checks.setdefault(group_key(spec), []).append(index)
        by_case: dict[str, deque[list[int]]] = {}
        for check in checks.values():
            by_case.setdefault(specs[check[0]].case, deque()).append(check)
        self.groups = deque(by_case.values())

    def waiting(self, workers: list[_Worker]) -> int:
        return sum(map(len, self.groups)) + sum(len(w.group) for w in workers)

    def next_for(self, worker: _Worker, workers: list[_Worker]) -> list[int] | None:
        if not worker.group:
            if self.groups:
                worker.group = self.groups.popleft()
            else:
                donor = max(workers, key=lambda w: len(w.group))
                share = (len(donor.group) + 1) // 2
                worker.group = deque(reversed([donor.group.pop() for _ in range(share)]))
        return worker.group.popleft() if worker.group else None

    def put_back(self, group: deque[list[int]]) -> None:
        if group:
            self.groups.appendleft(group)

    def drop_engine(self, engine: str, workers: list[_Worker]) -> list[int]:
        """Take every waiting check of this engine out of the queue; returns their indices."""
        dropped: list[int] = []
        for group in [*self.groups, *(w.group for w in workers)]:
            for check in group:
                dropped += [i for i in check if self.specs[i].engine == engine]
                check[:] = [i for i in check if self.specs[i].engine != engine]
            kept = [check for check in group if check]
            group.clear()
            group.extend(kept)
        self.groups = deque(g for g in self.groups if g)
        return dropped


def run_parallel(
    specs: list[CheckSpec],
    source_of: dict[str, str],
    jobs: int,
    *,
    options: dict[str, Any] | None = None,
    profile: str = "dev",
    seed: int | None = None,
    max_examples: int | None = None,
    timeout: float | None = None,
    mode: str = PROBABILISTIC,
) -> Iterator[tuple[int, Verdict]]:
    """``(index into specs, verdict)`` for every spec, in the order they finish, from ``jobs`` worker processes.

    ``source_of`` maps each engine's name (as in ``spec.engine``) to how it was
    loaded; ``options`` go to :func:`oracles.load_engine`.  Raises
    :class:`WorkerError` when a worker cannot load its engines.  Close the
    generator (or let it finish) to stop the workers.
    """
    context = multiprocessing.get_context("spawn")
    settings = {"profile": profile, "seed": seed, "max_examples": max_examples, "timeout": timeout, "mode": mode}
    queue = _Queue(specs)
    workers: list[_Worker] = []
    crashes: Counter[str] = Counter()
    remaining = len(specs)

    def start() -> None:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_work, args=(theirs, list(sys.path), source_of, options or {}, settings), daemon=True
        )
        with _sigint_blocked():  # the child starts with Ctrl-C blocked, then ignores it
            process.start()
        theirs.close()
        workers.append(_Worker(process, ours))

    def finish(worker: _Worker) -> Iterator[tuple[int, Verdict]]:
        """A worker died: its check (if any) gets a verdict; too many deaths for one engine stop its checks."""
        nonlocal remaining
        worker.process.join()
        workers.remove(worker)
        worker.conn.close()
        queue.put_back(worker.group)
        exit_text = _describe_exit(worker.process.exitcode)
        if not worker.ready:
            raise WorkerError(f"a worker process ended ({exit_text}) before loading the engines")
        if worker.task is None:
            return
        if len(worker.task) > 1:  # engines shared the check: re-run each alone to find the one at fault
            queue.put_back(deque([index] for index in worker.task))
            return
        (index,) = worker.task
        spec = specs[index]
        if worker.overdue:
            summary = f"{spec.engine}: no result within {timeout:g} s; the worker ignored the limit and was stopped"
            yield index, _failed(spec, "timeout", summary, mode)
        else:
            crashes[spec.engine] += 1
            yield index, _failed(spec, "crashed", f"the worker process running this check died ({exit_text})", mode)
        remaining -= 1
        if crashes[spec.engine] >= CRASH_LIMIT:
            skipped = queue.drop_engine(spec.engine, workers)
            for index in skipped:
                summary = f"not run: {spec.engine}'s checks killed {CRASH_LIMIT} worker processes"
                yield index, _failed(specs[index], "crashed", summary, mode)
            remaining -= len(skipped)

    try:
        for _ in range(min(jobs, len(specs))):
            start()
        while remaining:
            for worker in workers:
                if worker.ready and worker.task is None:
                    worker.task, worker.started = queue.next_for(worker, workers), time.monotonic()
                    if worker.task is not None:
                        worker.conn.send([specs[index] for index in worker.task])
            wait(
                [w.conn for w in workers] + [w.process.sentinel for w in workers],
                timeout=_until_overdue(workers, timeout),
            )
            for worker in list(workers):
                while worker.task is not None or not worker.ready:
                    try:
                        if not worker.conn.poll():
                            break
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        break
                    if message[0] == "ready":
                        worker.ready = True
                    elif message[0] == "load_error":
                        raise WorkerError(message[1])
                    elif message[0] == "error":
                        raise RuntimeError(f"{specs[worker.task[0]].id} raised in a worker process:\n{message[1]}")
                    else:
                        indices, worker.task = worker.task, None
                        remaining -= len(indices)
                        yield from zip(indices, message[1], strict=True)
                if timeout is not None and worker.task is not None and not worker.overdue:
                    if time.monotonic() - worker.started > _limit(worker, timeout):
                        worker.overdue = True
                        worker.process.kill()
                if not worker.process.is_alive():
                    yield from finish(worker)
            waiting = queue.waiting(workers)
            while waiting and len(workers) < min(jobs, waiting + sum(w.task is not None for w in workers)):
                start()
            if waiting and not workers:  # cannot happen: a finished worker is replaced while checks are waiting
                raise WorkerError("no worker process left to run the remaining checks")
    finally:
        _stop(workers)


def _work(
    conn: Connection, sys_path: list[str], source_of: dict[str, str], options: dict[str, Any], settings: dict[str, Any]
) -> None:
    """A worker's life: load the engines, then run the checks it is sent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    engines: dict[str, Any] = {}
    try:
        for name, source in source_of.items():
            engine = load_engine(source, **options)
            if str(engine.name) != name:
                raise EngineLoadError(
                    f"engine {source!r} calls itself {engine.name!r} in a worker, {name!r} in the parent"
                )
            engines[name] = engine
    except Exception as error:  # EngineLoadError, or anything else that stops an engine loading here
        text = str(error) if isinstance(error, EngineLoadError) else f"{type(error).__name__}: {error}"
        conn.send(("load_error", f"in a worker process: {text}"))
        return
    conn.send(("ready",))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if task is None:
            return
        try:
            verdicts = run_group(task, engines, sources=source_of, **settings)
        except Exception:  # a harness bug: the parent raises it, as a serial run would
            conn.send(("error", traceback.format_exc()))
            return
        conn.send(("done", verdicts))


def _failed(spec: CheckSpec, kind: str, summary: str, mode: str) -> Verdict:
    verdict = new_verdict(spec.property, spec.case, spec.subject, spec.engine, spec.dtype, mode)
    return failed_verdict(verdict, Diagnosis(kind, summary))


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _limit(worker: _Worker, timeout: float) -> float:
    """How long a worker may take on its check: each engine has ``timeout``, then the grace."""
    return timeout * len(worker.task or ()) + GRACE_SECONDS


def _until_overdue(workers: list[_Worker], timeout: float | None) -> float | None:
    """Seconds until the next busy worker is past its time limit and grace (None: no limit)."""
    if timeout is None:
        return None
    now = time.monotonic()
    ends = [w.started + _limit(w, timeout) - now for w in workers if w.task is not None and not w.overdue]
    return max(0.0, min(ends)) + 0.05 if ends else None


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT while a child starts, so it inherits the block (a Ctrl-C now is delivered after)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop(workers: list[_Worker]) -> None:
    """Ask idle workers to exit, terminate busy (or still loading) ones, and reap them all."""
    for worker in workers:
        if worker.ready and worker.task is None and worker.process.is_alive():
            with suppress(OSError, ValueError):
                worker.conn.send(None)
        else:
            worker.process.terminate()
    deadline = time.monotonic() + 5.0
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
