"""A config's ``custom_imports`` alone brings rla_mm into a fresh interpreter
(moved from tests/unit/test_registry.py: it runs a subprocess)."""
import sys
import textwrap

import pytest
from rla_testkit import process

pytestmark = pytest.mark.subprocess


@pytest.mark.parametrize('scope', ['mmdet', 'mmpretrain'])
def test_custom_imports_in_a_config_file_register_the_backbones(
        tmp_path, scope):
    # A fresh interpreter: only the config's custom_imports brings rla_mm in.
    (tmp_path / 'cfg.py').write_text(
        textwrap.dedent(f"""
        custom_imports = dict(imports=['rla_mm'], allow_failed_imports=False)
        default_scope = '{scope}'
        backbone = dict(type='RLAResNet', depth=50, rla_channel=16)
    """))
    code = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from {scope}.registry import MODELS
        assert 'rla_mm' not in sys.modules
        cfg = Config.fromfile(sys.argv[1])
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.backbone)
        print(type(model).__module__, model.layer1[0].conv1.in_channels)
    """)
    proc = process.run([sys.executable, '-c', code,
                        str(tmp_path / 'cfg.py')],
                       capture_output=True,
                       text=True,
                       timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['rla_mm.models.backbones.rla_resnet', '80']
