"""The authors' published checkpoints (rla_mm.converters.published): the set
the metafiles name, the file names our configs read, the table of
docs/weights.md, and what ``rlanet_to_rla_mm.py --all`` refuses.
``tests/integration/test_convert_all.py`` converts a folder of every published
file."""
import os
import os.path as osp
import re

import torch
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT, load_tool
from rla_testkit.reference_checkpoints import write_reference_checkpoint

from rla_mm.converters import mmdet2
from rla_mm.converters.published import (TABLE_TAG, converted_name,
                                         published_checkpoints, weights_table)

convert_main = load_tool('model_converters/rlanet_to_rla_mm.py').main
PUBLISHED = published_checkpoints()


def test_the_published_set_is_the_metafiles():
    # 6 ImageNet classifiers (their README) and the 12 COCO detectors
    kinds = [e.kind for e in PUBLISHED]
    assert kinds.count('classifier') == 6 and kinds.count('detector') == 12
    assert len({e.file
                for e in PUBLISHED}) == len({e.converted
                                             for e in PUBLISHED}) == 18
    assert {e.arch
            for e in PUBLISHED if e.kind == 'classifier'} == {
                'rla_resnet50', 'rla_resnet50_eca', 'rla_resnet101',
                'rla_resnet101_eca', 'dsrla_mobilenetv2_k32',
                'dsrla_mobilenetv2_k32_eca'
            }
    # a classifier file's name ends with its top-1 error x 100, a detector's
    # with its box AP x 10
    for e in PUBLISHED:
        figure = float(e.metric.split()[-1])
        number = int(re.search(r'_(\d+)\.pth', e.file).group(1))
        if e.kind == 'classifier':
            assert abs(number / 100 - (100 - figure)) < 0.2, e
        else:
            assert number == round(figure * 10), e


def test_detector_configs_read_the_names_that_all_writes():
    # the backbone file each detection config's init_cfg names is the
    # converted name of the ImageNet classifier with that backbone
    written = {
        f'checkpoints/{e.converted}': e
        for e in PUBLISHED if e.kind == 'classifier'
    }
    for e in PUBLISHED:
        if e.kind != 'detector':
            continue
        found = mmdet2.detector_of_config(e.config)
        cfg = Config.fromfile(osp.join(REPO_ROOT, e.config))
        expected = cfg.model.backbone.init_cfg.checkpoint
        assert expected in written, (e.config, expected)
        arch = f'rla_resnet{found.depth}{"_eca" if found.eca else ""}'
        assert written[expected].arch == arch, e.config
    assert converted_name('configs/rla_resnet50_4xb64_in1k.py') == \
        'rla_resnet50_in1k.pth'


def test_all_refuses_what_it_cannot_do(tmp_path, capsys):
    # a pickle that runs code is refused without running it
    class Payload:

        def __reduce__(self):
            return os.system, (f'touch {tmp_path / "pwned"}', )

    folder = tmp_path / 'evil'
    folder.mkdir()
    torch.save(
        dict(state_dict={}, arch='rla_resnet50', x=Payload()),
        folder / 'resnet50_rla_2283.pth.tar')
    assert convert_main(['--all', str(folder), str(tmp_path / 'o')]) == 1
    out = capsys.readouterr().out
    assert 'converted 0 of 1 files' in out
    # refused as unsafe, in torch >= 2.6's words (the global it names) or in
    # older torch's (weights_only refusing it)
    assert ('names the Python object posix.system: only an unsafe torch.load'
            in out) or 'Weights only load failed' in out
    assert not (tmp_path / 'pwned').exists()
    # a layout that does not fit its arch: the keys are named
    write_reference_checkpoint(folder / 'resnet50_rla_2283.pth.tar',
                               dict(fc=torch.zeros(1)), 'rla_resnet50')
    assert convert_main(['--all', str(folder), str(tmp_path / 'o')]) == 1
    assert 'missing target keys' in capsys.readouterr().out
    assert convert_main([
        '--all',
        str(folder / 'resnet50_rla_2283.pth.tar'),
        str(tmp_path / 'o')
    ]) == 1
    assert 'is not one' in capsys.readouterr().err
    assert convert_main(
        ['--all', '--arch', 'rla_resnet50',
         str(folder),
         str(tmp_path / 'o')]) == 1
    assert '--all reads each file' in capsys.readouterr().err


def test_docs_weights_table_is_written_from_the_metafiles():
    with open(osp.join(REPO_ROOT, 'docs', 'weights.md')) as f:
        doc = f.read()
    begin, end = f'<!-- {TABLE_TAG}:begin -->\n', f'<!-- {TABLE_TAG}:end -->'
    assert doc.count(begin) == doc.count(end) == 1
    block = doc.split(begin)[1].split(end)[0]
    assert block == weights_table(), (
        'docs/weights.md is not the metafiles\' table: rewrite the '
        f'{TABLE_TAG} block with rla_mm.converters.published.weights_table()')
    assert 'https://github.com/fangyanwen1106/RLANet' in doc
