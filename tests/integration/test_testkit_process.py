"""rla_testkit.process.run: a command's own timeout, cut to the test's, and no
process outliving a timed-out command or test."""
import os
import os.path as osp
import subprocess
import sys
import textwrap
import time

import pytest
from rla_testkit import process
from rla_testkit.checkout import REPO_ROOT

# a shell that starts a child in the background, writes its pid, and waits
SHELL_WITH_CHILD = 'sleep 600 & echo $! > {}; echo started; wait'


def gone(pid: int, within: float = 5) -> bool:
    """The process has ended (a zombie that nothing reaped counts as ended)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f'/proc/{pid}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.subprocess
def test_a_timed_out_command_is_stopped_with_its_children(tmp_path):
    pid_file = tmp_path / 'child'
    with pytest.raises(subprocess.TimeoutExpired) as err:
        process.run(
            ['bash', '-c', SHELL_WITH_CHILD.format(pid_file)],
            capture_output=True,
            text=True,
            timeout=2)
    assert 'started' in err.value.output
    assert gone(int(pid_file.read_text()))


@pytest.mark.subprocess
@pytest.mark.timeout(process.MARGIN + 5)
def test_the_timeout_is_cut_to_what_the_test_has_left():
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as err:
        process.run(['sleep', '600'], timeout=600)
    assert err.value.timeout <= 5
    assert time.monotonic() - started < 5 + process.GRACE


def test_a_test_not_marked_subprocess_starts_nothing():
    with pytest.raises(AssertionError, match='mark it'):
        process.run(['true'], timeout=10)


@pytest.mark.subprocess
def test_a_timed_out_test_stops_the_processes_it_started(tmp_path):
    """pytest-timeout's limit runs out while the command still has time: the
    test fails, and the command's children are stopped with it."""
    pid_file = tmp_path / 'child'
    (tmp_path / 'pytest.ini').write_text('[pytest]\n')
    (tmp_path / 'test_inner.py').write_text(
        textwrap.dedent(f"""
        import pytest
        from rla_testkit import process

        @pytest.mark.timeout(3)
        def test_hangs():
            process.run(['bash', '-c', {SHELL_WITH_CHILD.format(pid_file)!r}],
                        timeout=600)
        """))
    env = dict(
        os.environ,
        PYTHONPATH=osp.join(REPO_ROOT, 'tests'),
        PYTHONUNBUFFERED='1')
    proc = process.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider'],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert 'Timeout (>3.0s)' in proc.stdout, proc.stdout[-3000:]
    assert gone(int(pid_file.read_text()))
