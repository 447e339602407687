"""What every test gets: the registry scope it started with.

The tests' helpers are the package ``rla_testkit`` (tests/rla_testkit/, on
``sys.path`` through pytest.ini's ``pythonpath``); tests import it, never this
file.
"""
import pytest


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
    for name in list(DefaultScope._instance_dict):
        if name not in before:
            DefaultScope._instance_dict.pop(name)
