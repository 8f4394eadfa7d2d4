"""Run module-level functions in fresh Python child processes (`python -m etl.workers`).

Calls and their results travel pickled over the child's stdin and stdout, in order: a pool
child takes one call, a long-lived child (the Great Expectations validator) takes many. Unlike
multiprocessing, the caller's `__main__` is never imported again (a script needs no
`if __name__ == "__main__"` guard) and a daemonic parent, such as a Celery worker, may start
children. Children start when the pool is made, so their imports overlap the caller's work.
"""
from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import traceback


class WorkerError(RuntimeError):
    """A worker process stopped without giving a result."""


class _Child:
    """One child process serving calls in order: each `submit` sends a call, each `result`
    receives the outcome of the oldest call not yet collected."""

    def __init__(self, preload: str):
        self._process = subprocess.Popen([sys.executable, "-m", "etl.workers", preload],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def submit(self, fn, *args, more: bool = False) -> "_Child":
        """Send one call; `more` keeps the child for further calls (else it leaves after this one)."""
        try:
            pickle.dump((fn, args), self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
            if not more:
                self._process.stdin.close()
        except BrokenPipeError:
            pass  # the child is gone: result() says how
        return self

    def result(self):
        try:
            status, value = pickle.load(self._process.stdout)
        except EOFError:
            raise WorkerError(f"a worker process stopped without a result (exit code {self._process.wait()}); "
                              "its error, if any, is in the log above") from None
        if self._process.stdin.closed:
            self._process.wait()
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        if self._process.poll() is None:
            if not self._process.stdin.closed:
                self._process.stdin.close()  # an idle child reads EOF and leaves
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process.stdout.close()


class ChildProcessPool:
    """`submit(fn, *args)` runs one call in its own child process; `.result()` returns its value
    or raises its exception. Same shape as concurrent.futures executors."""

    def __init__(self, workers: int, preload: str = "etl.pipeline"):
        self._preload = preload
        self._idle = [_Child(preload) for _ in range(workers)]
        self._busy: list[_Child] = []

    def submit(self, fn, *args) -> _Child:
        child = self._idle.pop(0) if self._idle else _Child(self._preload)
        self._busy.append(child)
        return child.submit(fn, *args)

    def shutdown(self, cancel_futures: bool = False) -> None:
        for child in self._idle + self._busy:
            child.close()
        self._idle, self._busy = [], []


def _serve() -> None:
    """Child side: import the preload (`module` or `module:function` to call once, e.g. to warm
    up a slow library), then run each call received, sending back its outcome, until EOF."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the result stream
    if len(sys.argv) > 1:
        module, _, function = sys.argv[1].partition(":")
        loaded = importlib.import_module(module)
        if function:
            getattr(loaded, function)()
    while True:
        try:
            fn, args = pickle.load(sys.stdin.buffer)
        except EOFError:
            return  # no more calls (or the pool was shut down before giving this child work)
        try:
            outcome = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            exc.add_note("(raised in a worker process)\n" + "".join(traceback.format_exception(exc)))
            outcome = ("error", exc)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled still says what happened
            error = outcome[1] if outcome[0] == "error" else None
            text = "".join(traceback.format_exception(error)) if error else "the result could not be sent back"
            data = pickle.dumps(("error", WorkerError(text)), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(data)
        out.flush()


if __name__ == "__main__":
    _serve()
