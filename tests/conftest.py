"""What every test gets: its registry scope back, and the processes it starts
held to its time limit.

The tests' helpers are the package ``rla_testkit`` (tests/rla_testkit/, on
``sys.path`` through pytest.ini's ``pythonpath``); tests import it, never this
file.
"""
import pytest
from rla_testkit import process

try:
    from pytest_timeout import get_env_settings
except ImportError:  # pytest.ini's required_plugins names it
    get_env_settings = None


def time_limit(item) -> float:
    """The test's limit as pytest-timeout applies it: its ``timeout`` marker,
    else ``--timeout``, ``PYTEST_TIMEOUT`` or pytest.ini's ``timeout``."""
    marker = item.get_closest_marker('timeout')
    if marker is not None:
        return float(marker.kwargs.get('timeout', *marker.args[:1]) or 0)
    if get_env_settings is None:
        return 0
    return float(get_env_settings(item.config).timeout or 0)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    process.begin_test(item.nodeid, time_limit(item),
                       item.get_closest_marker('subprocess') is not None)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    process.end_test()


def _drop_scopes_created_since(before: set) -> None:
    from mmengine.registry import DefaultScope
    for name in list(DefaultScope._instance_dict):
        if name not in before:
            DefaultScope._instance_dict.pop(name)


@pytest.fixture(autouse=True, scope='module')
def default_scope_stays_per_module():
    """A test file leaves the registry scopes as it found them, those that its
    module-scoped fixtures set included (the test that runs after it, in this
    process or a pytest-xdist worker, depends on the file order)."""
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    _drop_scopes_created_since(before)


@pytest.fixture(autouse=True)
def default_scope_stays():
    """Each test starts with the registry scope the one before it found.

    ``init_default_scope`` sets a process-wide scope
    (MMEngine's ``DefaultScope``): a test that sets 'mmdet' would make a later
    MMPretrain call build its transforms from MMDetection's registry. The
    scopes a test creates go when it ends (MMEngine's own
    ``overwrite_default_scope`` restores the same way).
    """
    from mmengine.registry import DefaultScope
    before = set(DefaultScope._instance_dict)
    yield
    _drop_scopes_created_since(before)
