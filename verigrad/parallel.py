"""Property checks in worker processes (``verigrad check --jobs N``), verdicts yielded as they finish.

Engines cannot be pickled, so every worker loads its own session, once, from the
sources the user gave (built-in names or ``module:attribute``, with the same
options such as ``device``; :meth:`verigrad.session.Session.load`) and the
parent's ``sys.path``, so an adapter in the current directory loads there too.  Workers are forked from a
*fork server*: the parent has jax and torch loaded, and forking it after their threads have started is unsafe,
so a fresh interpreter that has imported only this module (numpy, hypothesis and the harness, no engine) forks
each worker.  A worker then starts without an interpreter's second of imports, which a replacement after a
crash or a time-out would pay again (``-j 2`` on one case: 2.25 s -> 1.6 s wall, measured).
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

Why not ``concurrent.futures`` or loky: in both, a worker that dies breaks the
whole pool (``BrokenProcessPool`` / ``TerminatedWorkerError`` for every pending
task), so which check killed it is unknown, and a single stuck worker cannot be
killed; the engine-per-worker loading, the case-affine queue and the re-runs
after a crash would have to be written around them all the same.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from verigrad.compare import failed_verdict, new_verdict
from verigrad.diagnosis import Diagnosis
from verigrad.oracles import EngineLoadError
from verigrad.records import Verdict
from verigrad.runner import CheckSpec, group_key
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
    case_checks: deque[list[int]] = field(default_factory=deque)


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
        self.cases = deque(by_case.values())

    def waiting(self, workers: list[_Worker]) -> int:
        return sum(map(len, self.cases)) + sum(len(w.case_checks) for w in workers)

    def next_for(self, worker: _Worker, workers: list[_Worker]) -> list[int] | None:
        if not worker.case_checks:
            if self.cases:
                worker.case_checks = self.cases.popleft()
            else:
                donor = max(workers, key=lambda w: len(w.case_checks))
                share = (len(donor.case_checks) + 1) // 2
                worker.case_checks = deque(reversed([donor.case_checks.pop() for _ in range(share)]))
        return worker.case_checks.popleft() if worker.case_checks else None

    def put_back(self, checks: deque[list[int]]) -> None:
        if checks:
            self.cases.appendleft(checks)

    def drop_engine(self, engine: str, workers: list[_Worker]) -> list[int]:
        """Take every waiting check of this engine out of the queue; returns their indices."""
        dropped: list[int] = []
        for checks in [*self.cases, *(w.case_checks for w in workers)]:
            for check in checks:
                dropped += [i for i in check if self.specs[i].engine == engine]
                check[:] = [i for i in check if self.specs[i].engine != engine]
            kept = [check for check in checks if check]
            checks.clear()
            checks.extend(kept)
        self.cases = deque(g for g in self.cases if g)
        return dropped


def run_parallel(
    specs: list[CheckSpec],
    jobs: int,
    load_session: Callable[[], Any],
    names: Sequence[str],
    *,
    timeout: float | None = None,
    mode: str = PROBABILISTIC,
) -> Iterator[tuple[int, Verdict]]:
    """``(index into specs, verdict)`` for every spec, in the order they finish, from ``jobs`` worker processes.

    Each worker calls ``load_session`` (picklable: a :class:`~verigrad.session.Session`
    loader) once, and must get engines of these ``names``; ``timeout`` is the limit
    per check and engine.  Raises :class:`WorkerError` when a worker cannot load its
    engines.  Close the generator (or let it finish) to stop the workers.
    """
    pool = _Pool(specs, jobs, load_session, list(names), timeout, mode)
    try:
        yield from pool.run()
    finally:
        _stop(pool.workers)


class _Pool:
    """The workers of one run, the checks waiting for them, and the crash counts."""

    def __init__(self, specs: list[CheckSpec], jobs: int, load_session: Callable[[], Any], names: list[str],
                 timeout: float | None, mode: str) -> None:
        self.specs, self.jobs, self.timeout, self.mode = specs, jobs, timeout, mode
        self.worker_args = (list(sys.path), load_session, names)
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload([__name__])
        self.queue = _Queue(specs)
        self.workers: list[_Worker] = []
        self.crashes: Counter[str] = Counter()
        self.remaining = len(specs)

    def run(self) -> Iterator[tuple[int, Verdict]]:
        for _ in range(min(self.jobs, len(self.specs))):
            self.start()
        while self.remaining:
            self.hand_out()
            conns = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
            wait(conns, timeout=_until_overdue(self.workers, self.timeout))
            for worker in list(self.workers):
                yield from self.receive(worker)
                self.stop_if_overdue(worker)
                if not worker.process.is_alive():
                    yield from self.finish(worker)
            self.replace_workers()

    def start(self) -> None:
        ours, theirs = self.context.Pipe()
        process = self.context.Process(target=_work, args=(theirs, *self.worker_args), daemon=True)
        with _sigint_blocked():  # the child starts with Ctrl-C blocked, then ignores it
            process.start()
        theirs.close()
        self.workers.append(_Worker(process, ours))

    def hand_out(self) -> None:
        for worker in self.workers:
            if worker.ready and worker.task is None:
                worker.task, worker.started = self.queue.next_for(worker, self.workers), time.monotonic()
                if worker.task is not None:
                    worker.conn.send([self.specs[index] for index in worker.task])

    def receive(self, worker: _Worker) -> Iterator[tuple[int, Verdict]]:
        """Whatever the worker has sent: ready, a load error, a harness error, or its check's verdicts."""
        while worker.task is not None or not worker.ready:
            try:
                if not worker.conn.poll():
                    return
                message = worker.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == "ready":
                worker.ready = True
            elif message[0] == "load_error":
                raise WorkerError(message[1])
            elif message[0] == "error":
                raise RuntimeError(f"{self.specs[worker.task[0]].id} raised in a worker process:\n{message[1]}")
            else:
                indices, worker.task = worker.task, None
                self.remaining -= len(indices)
                yield from zip(indices, message[1], strict=True)

    def stop_if_overdue(self, worker: _Worker) -> None:
        if self.timeout is not None and worker.task is not None and not worker.overdue:
            if time.monotonic() - worker.started > _limit(worker, self.timeout):
                worker.overdue = True
                worker.process.kill()

    def replace_workers(self) -> None:
        waiting = self.queue.waiting(self.workers)
        while waiting and len(self.workers) < min(self.jobs, waiting + sum(w.task is not None for w in self.workers)):
            self.start()
        if waiting and not self.workers:  # cannot happen: a finished worker is replaced while checks are waiting
            raise WorkerError("no worker process left to run the remaining checks")

    def finish(self, worker: _Worker) -> Iterator[tuple[int, Verdict]]:
        """A worker died: its check (if any) gets a verdict; too many deaths for one engine stop its checks."""
        worker.process.join()
        self.workers.remove(worker)
        worker.conn.close()
        self.queue.put_back(worker.case_checks)
        exit_text = _describe_exit(worker.process.exitcode)
        if not worker.ready:
            raise WorkerError(f"a worker process ended ({exit_text}) before loading the engines")
        if worker.task is None:
            return
        if len(worker.task) > 1:  # engines shared the check: re-run each alone to find the one at fault
            self.queue.put_back(deque([index] for index in worker.task))
            return
        (index,) = worker.task
        spec = self.specs[index]
        if worker.overdue:
            summary = f"{spec.engine}: no result within {self.timeout:g} s; the worker ignored the limit and was stopped"
            yield index, _failed(spec, "timeout", summary, self.mode)
        else:
            self.crashes[spec.engine] += 1
            yield index, _failed(spec, "crashed", f"the worker process running this check died ({exit_text})", self.mode)
        self.remaining -= 1
        if self.crashes[spec.engine] >= CRASH_LIMIT:
            skipped = self.queue.drop_engine(spec.engine, self.workers)
            for index in skipped:
                summary = f"not run: {spec.engine}'s checks killed {CRASH_LIMIT} worker processes"
                yield index, _failed(self.specs[index], "crashed", summary, self.mode)
            self.remaining -= len(skipped)


def _work(conn: Connection, sys_path: list[str], load_session: Callable[[], Any], names: list[str]) -> None:
    """A worker's life: load the session's engines, then run the checks it is sent until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    for entry in reversed(sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        session = load_session()
        if list(session.engines) != names:
            raise EngineLoadError(f"the engines call themselves {list(session.engines)} in a worker, {names} in the parent")
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
            verdicts = session.run_check_group(task)
        except Exception:  # a harness bug run_check_group did not turn into crashed verdicts: the parent raises it
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
