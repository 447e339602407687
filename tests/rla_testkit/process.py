"""Processes that a test starts: each with its own time limit, and none
outliving the test.

:func:`run` is ``subprocess.run`` with a required ``timeout``. The command runs
in a session of its own, and on its timeout, or on any exception in the test
(pytest-timeout's included), its whole process group is stopped: first with
SIGTERM, which torchrun passes on to its workers (they run in sessions of
their own), then with SIGKILL. Within a test (``tests/conftest.py`` tells this
module when one starts) the timeout is also cut to what is left of the test's
own limit, so the command's limit always runs out first; and only a test marked
``subprocess`` may start one.
"""
import os
import signal
import socket
import subprocess
import time
from typing import Optional

#: Seconds a stopped process group gets between SIGTERM and SIGKILL.
GRACE = 10
#: Seconds of the test's limit kept for stopping a command and reporting.
MARGIN = GRACE + 5

_test = dict(name=None, deadline=None, may_start=True)


def begin_test(name: str, limit: Optional[float], may_start: bool) -> None:
    """Called as a test starts: its id, its time limit in seconds (None or 0:
    none) and whether it is marked ``subprocess``."""
    _test.update(
        name=name,
        deadline=time.monotonic() + limit if limit else None,
        may_start=may_start)


def end_test() -> None:
    _test.update(name=None, deadline=None, may_start=True)


def _limit(timeout: float) -> float:
    if _test['deadline'] is None:
        return timeout
    return max(1.0, min(timeout,
                        _test['deadline'] - time.monotonic() - MARGIN))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left of it after
    :data:`GRACE` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + GRACE
    while time.monotonic() < end:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run(args,
        *,
        timeout: float,
        input=None,
        capture_output: bool = False,
        check: bool = False,
        **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(args, timeout=timeout, ...)``, in a process group of
    its own that is stopped as a whole when the command times out or the test
    is interrupted.

    Args:
        args: The command, as for :class:`subprocess.Popen`.
        timeout (float): Seconds the command may run (cut to what is left of
            the running test's limit). On expiry
            :class:`subprocess.TimeoutExpired` is raised with the output so
            far.
        input, capture_output, check: As for :func:`subprocess.run`.
        **kwargs: Passed on to :class:`subprocess.Popen` (``cwd``, ``env``,
            ``text``, ``stdout``, ...).
    """
    assert _test['may_start'], (f'{_test["name"]} starts a process: mark it '
                                '@pytest.mark.subprocess (pytest.ini)')
    if input is not None:
        kwargs['stdin'] = subprocess.PIPE
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    limit = _limit(timeout)
    with subprocess.Popen(args, start_new_session=True, **kwargs) as proc:
        try:
            stdout, stderr = proc.communicate(input, timeout=limit)
        except subprocess.TimeoutExpired:
            _stop(proc)
            try:  # a process out of the group may still hold the pipes
                stdout, stderr = proc.communicate(timeout=GRACE)
            except subprocess.TimeoutExpired:
                stdout = stderr = None
            raise subprocess.TimeoutExpired(
                proc.args, limit, output=stdout, stderr=stderr) from None
        except BaseException:  # the test's own timeout, Ctrl-C, ...
            _stop(proc)
            raise
    if check and proc.returncode:
        raise subprocess.CalledProcessError(
            proc.returncode, proc.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout,
                                       stderr)


def free_port() -> int:
    """A TCP port that is free on the loopback now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
