"""Property checks in worker processes (``verigrad check --jobs N``), verdicts yielded as they finish.

Engines cannot be pickled, so every worker loads its own, once, from the sources
the user gave (built-in names or ``module:attribute``, with the same options such
as ``device``) and the parent's ``sys.path``, so an adapter in the current
directory loads there too.  Workers are started with ``spawn``: the parent has
jax and torch loaded, and forking after their threads have started is unsafe.
Each worker runs one :class:`~verigrad.runner.CheckSpec` at a time through
:func:`~verigrad.runner.run_check` on its main thread, where the SIGALRM time
limit per check works, and works through the checks of one case and engine
before the next (:class:`_Queue`), so that compiled code is reused.

A worker that dies (a segfault in an engine, say) costs only the check it was
running: that check gets a FAIL verdict diagnosed ``crashed`` naming the exit,
and a fresh worker takes over.  After :data:`CRASH_LIMIT` such deaths in one
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

from oracles import EngineLoadError, load_engine
from verigrad.diagnosis import Diagnosis
from verigrad.records import FAIL, Verdict
from verigrad.runner import CheckSpec, run_check
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
    task: int | None = None
    started: float = 0.0
    overdue: bool = False
    #: The rest of the (case, engine) group it is working through.
    group: deque[int] = field(default_factory=deque)


class _Queue:
    """The checks not yet handed out, in groups of one case and engine, in plan order.

    A worker works through a whole group, so that what an engine compiles or caches
    for a case (jax traces and compiles each function once per process) is reused,
    not done again in every worker.  With no group left, an idle worker takes the
    second half of the largest group another worker holds.
    """

    def __init__(self, specs: list[CheckSpec]) -> None:
        self.specs = specs
        groups: dict[tuple[str, str], deque[int]] = {}
        for index, spec in enumerate(specs):
            groups.setdefault((spec.case, spec.engine), deque()).append(index)
        self.groups = deque(groups.values())

    def waiting(self, workers: list[_Worker]) -> int:
        return sum(map(len, self.groups)) + sum(len(w.group) for w in workers)

    def next_for(self, worker: _Worker, workers: list[_Worker]) -> int | None:
        if not worker.group:
            if self.groups:
                worker.group = self.groups.popleft()
            else:
                donor = max(workers, key=lambda w: len(w.group))
                share = (len(donor.group) + 1) // 2
                worker.group = deque(reversed([donor.group.pop() for _ in range(share)]))
        return worker.group.popleft() if worker.group else None

    def put_back(self, group: deque[int]) -> None:
        if group:
            self.groups.appendleft(group)

    def drop_engine(self, engine: str, workers: list[_Worker]) -> list[int]:
        """Take every waiting check of this engine out of the queue; returns their indices."""
        held = [*self.groups, *(w.group for w in workers)]
        dropped = [i for group in held for i in group if self.specs[i].engine == engine]
        self.groups = deque(g for g in self.groups if self.specs[g[0]].engine != engine)
        for worker in workers:
            if worker.group and self.specs[worker.group[0]].engine == engine:
                worker.group = deque()
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
        spec = specs[worker.task]
        if worker.overdue:
            summary = f"{spec.engine}: no result within {timeout:g} s; the worker ignored the limit and was stopped"
            yield worker.task, _failed(spec, "timeout", summary, mode)
        else:
            crashes[spec.engine] += 1
            yield (
                worker.task,
                _failed(spec, "crashed", f"the worker process running this check died ({exit_text})", mode),
            )
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
                        worker.conn.send((worker.task, specs[worker.task]))
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
                        raise RuntimeError(f"{specs[message[1]].id} raised in a worker process:\n{message[2]}")
                    else:
                        _, index, verdict = message
                        worker.task = None
                        remaining -= 1
                        yield index, verdict
                if timeout is not None and worker.task is not None and not worker.overdue:
                    if time.monotonic() - worker.started > timeout + GRACE_SECONDS:
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
        index, spec = task
        try:
            verdict = run_check(spec, engines[spec.engine], source=source_of[spec.engine], **settings)
        except Exception:  # a harness bug: the parent raises it, as a serial run would
            conn.send(("error", index, traceback.format_exc()))
            return
        conn.send(("done", index, verdict))


def _failed(spec: CheckSpec, kind: str, summary: str, mode: str) -> Verdict:
    diagnosis = Diagnosis(kind, summary)
    return Verdict(
        spec.id,
        spec.property,
        spec.case,
        spec.subject,
        spec.engine,
        spec.dtype,
        FAIL,
        message=f"{kind}: {summary}",
        diagnosis=diagnosis.to_dict(),
        mode=mode,
    )


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _until_overdue(workers: list[_Worker], timeout: float | None) -> float | None:
    """Seconds until the next busy worker is past its time limit and grace (None: no limit)."""
    if timeout is None:
        return None
    now = time.monotonic()
    ends = [w.started + timeout + GRACE_SECONDS - now for w in workers if w.task is not None and not w.overdue]
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
