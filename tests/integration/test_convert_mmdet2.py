"""The converter of the authors' MMDetection 2.x RLA detectors.

The checkpoints are written here in MMDetection 2.x's format (``meta`` with the
config text, ``CLASSES``, versions, epoch ...; ``state_dict``; ``optimizer``)
from random weights: the backbone in the layout of the authors'
``mmdetection/resnet_rla.py`` (``rla_functional``, held to the recorded layout
in test_converter.py) and the neck and heads under the module names of
MMDetection 2.x's FPN, RPNHead, Shared2FCBBoxHead, FCNMaskHead and RetinaHead,
with the shapes their 2.x constructors give for the authors' configs.
"""
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from rla_testkit import process
from rla_testkit import rla_functional as ref
from rla_testkit.checkout import REPO_ROOT, load_script, load_tool
from rla_testkit.reference_checkpoints import (mmdet2_state_dict,
                                               write_mmdet2_checkpoint)

from rla_mm.converters import ConversionError
from rla_mm.converters.mmdet2 import (build_detector, config_name,
                                      convert_detector_state_dict, identify,
                                      set_num_classes, unread_backbone_keys)

convert_main = load_tool('model_converters/mmdet2_rla_to_rla_mm.py').main
DIGITS = load_tool('data/make_digits_coco.py')
COCO_TABLE = 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all'

TABLE = load_script('.dev_scripts/doc_tables.py')
PUBLISHED = TABLE.load_published()


def published_variant(checkpoint):
    """(detector, depth, eca) of an authors' checkpoint name."""
    found = re.fullmatch(
        r'(faster_rcnn|retinanet|mask_rcnn)_r(50|101)rla(eca)?'
        r'_fpn_1x_coco_\d+', checkpoint)
    return found.group(1), int(found.group(2)), bool(found.group(3))


@pytest.mark.parametrize('entry', PUBLISHED, ids=lambda e: e['Checkpoint'])
def test_every_published_detector_loads_into_our_config(entry):
    detector, depth, eca = published_variant(entry['Checkpoint'])
    sd, backbone_sd = mmdet2_state_dict(detector, depth, eca, num_classes=80)
    assert identify(sd) == (detector, depth, eca)
    # the converter picks the config that the README's table names
    name = config_name(detector, depth, eca)
    assert f'configs/{name}' == entry['Config']
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', name))
    model = build_detector(cfg)
    unread = unread_backbone_keys(cfg.model.backbone, model.backbone)
    converted, dropped = convert_detector_state_dict(sd, detector, model,
                                                     unread)
    # the one unread entry: the norm after the last block of the last stage
    assert dropped == [
        f'backbone.stage_bns.3.2.{k}'
        for k in ('weight', 'bias', 'running_mean', 'running_var',
                  'num_batches_tracked')
    ]
    model.load_state_dict(converted, strict=True)
    model.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        feats = model.backbone(x)
        expected = ref.resnet_forward(backbone_sd, x, depth)['feats']
    assert len(feats) == 4
    for f, e in zip(feats, expected):
        assert f.shape == e.shape
        assert (f - e).abs().max() <= 1e-5
    assert expected[3].abs().max() > 0.1  # not a vacuous comparison
    # the heads hold the 2.x values, by name
    for key, value in sd.items():
        if not key.startswith('backbone.'):
            assert torch.equal(converted[key], value), key


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp('digits')
    DIGITS.make_dataset(str(root), num_train=2, num_val=3, size=96, seed=5)
    return str(root)


@pytest.mark.parametrize('detector,depth,eca', [('faster_rcnn', 50, False),
                                                ('retinanet', 50, True),
                                                ('mask_rcnn', 101, True)])
@pytest.mark.subprocess
def test_converted_file_evaluates_with_tools_test(tmp_path, capsys, digits,
                                                  detector, depth, eca):
    sd, _ = mmdet2_state_dict(detector, depth, eca, num_classes=10, seed=1)
    src, dst = tmp_path / 'mmdet2.pth', tmp_path / 'converted' / 'rla_mm.pth'
    write_mmdet2_checkpoint(src, sd, DIGITS.CLASSES, detector)
    assert convert_main([str(src), str(dst)]) == 0
    out = capsys.readouterr().out
    config = f'configs/{config_name(detector, depth, eca)}'
    assert f'config: {config}' in out
    assert 'classes: 10 names -> meta.dataset_meta.classes' in out
    assert 'optimizer, meta.config, meta.env_info' in out
    assert 'backbone.stage_bns.3.2.* (nothing reads it)' in out
    heads = set_num_classes(Config.fromfile(osp.join(REPO_ROOT, config)), 10)
    assert f'evaluate: python tools/test.py {config} {dst} --cfg-options ' \
        + ' '.join(heads) in out

    converted = torch.load(dst, weights_only=True)
    assert set(converted) == {'meta', 'state_dict'}
    assert converted['meta']['dataset_meta'] == dict(classes=DIGITS.CLASSES)
    assert converted['meta']['converted_from']['epoch'] == 12
    assert converted['meta']['converted_from']['mmdet_version'] == \
        '2.8.0+7fcb6dc'
    assert 'config' not in converted['meta']

    # MMDetection's own API reads the class names from the converted meta
    from mmdet.apis import init_detector
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    set_num_classes(cfg, 10)
    cfg.model.backbone.init_cfg = None
    model = init_detector(cfg, str(dst), device='cpu')
    assert model.dataset_meta['classes'] == DIGITS.CLASSES

    options = DIGITS.cfg_options(
        digits, scale=96) + heads + ['model.backbone.init_cfg=None']
    if detector != 'retinanet':  # random heads score low: keep every box
        options.append('model.test_cfg.rcnn.score_thr=0.0')
    proc = process.run([
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'test.py'), config,
        str(dst), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ],
                       cwd=REPO_ROOT,
                       capture_output=True,
                       text=True,
                       timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Load checkpoint from' in log
    assert 'unexpected key' not in log and 'missing keys' not in log, log
    assert COCO_TABLE in log
    assert 'coco/bbox_mAP' in log
    if detector == 'mask_rcnn':
        assert 'coco/segm_mAP' in log


def test_unmapped_missing_and_misshaped_keys_are_listed(tmp_path, capsys):
    sd, _ = mmdet2_state_dict('retinanet', 50, False, num_classes=80)
    del sd['backbone.stages.1.2.bn2.running_var']
    del sd['neck.fpn_convs.4.conv.bias']
    sd['roi_head.bbox_head.fc_cls.weight'] = torch.zeros(
        81, 1024)  # not RetinaNet's
    sd['backbone.stages.3.0.conv1.weight'] = torch.zeros(512, 1024, 1,
                                                         1)  # no +k
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'retinanet_rla_r50_fpn_1x_coco.py'))
    model = build_detector(cfg)
    unread = unread_backbone_keys(cfg.model.backbone, model.backbone)
    with pytest.raises(ConversionError) as err:
        convert_detector_state_dict(sd, 'retinanet', model, unread)
    message = str(err.value)
    assert 'checkpoint does not match RetinaNet (retinanet):' in message
    assert ('unmapped source keys (1): '
            'roi_head.bbox_head.fc_cls.weight') in message
    assert ('missing target keys (2): backbone.layer2.2.bn2.running_var, '
            'neck.fpn_convs.4.conv.bias') in message
    assert ('shape mismatches (1): backbone.stages.3.0.conv1.weight '
            '(512, 1024, 1, 1) -> backbone.layer4.0.conv1.weight '
            '(512, 1056, 1, 1)') in message
    # the command line says the same and writes nothing
    src, dst = tmp_path / 'bad.pth', tmp_path / 'out.pth'
    write_mmdet2_checkpoint(src, sd, [str(i) for i in range(80)], 'retinanet')
    assert convert_main([str(src), str(dst)]) == 1
    assert 'neck.fpn_convs.4.conv.bias' in capsys.readouterr().err
    assert not dst.exists()
    # --config names another detector than the weights are
    assert convert_main(
        [str(src),
         str(dst), '--config', 'faster_rcnn_rla_r50_fpn_1x_coco.py']) == 1
    assert (
        'the weights are a RetinaNet but faster_rcnn_rla_r50_fpn_1x_coco.py '
        'builds a FasterRCNN') in capsys.readouterr().err


def test_other_detectors_and_depths_are_refused_by_name():
    sd, _ = mmdet2_state_dict('faster_rcnn', 50, False, num_classes=80)
    with pytest.raises(ConversionError, match='not one of the authors'):
        identify({k: v for k, v in sd.items() if 'rpn_head' not in k})
    sd = {k.replace('stages.2.5.', 'stages.2.8.'): v for k, v in sd.items()}
    with pytest.raises(
            ConversionError,
            match=r'backbone.stages.2 has 9 blocks; expected \[6, 23\]'):
        identify(sd)


def test_checkpoint_needing_unsafe_unpickling_is_refused(tmp_path, capsys):
    import argparse

    class Payload:

        def __reduce__(self):
            return subprocess.call, (['touch', str(tmp_path / 'pwned')], )

    src = tmp_path / 'evil.pth'
    torch.save(
        dict(meta=dict(CLASSES=('a', ), x=Payload()), state_dict={}), src)
    assert convert_main([str(src), str(tmp_path / 'o.pth')]) == 1
    err = capsys.readouterr().err
    assert f'refusing {src}' in err and 'weights_only=False' in err
    assert not (tmp_path / 'pwned').exists()
    # any other Python object (training arguments, say) is refused the same way
    torch.save(
        dict(meta=dict(args=argparse.Namespace(lr=0.02)), state_dict={}), src)
    assert convert_main([str(src), str(tmp_path / 'o.pth')]) == 1
    assert 'refusing' in capsys.readouterr().err
    # not a checkpoint at all
    torch.save([torch.zeros(1)], src)
    assert convert_main([str(src), str(tmp_path / 'o.pth')]) == 1
    assert 'expected a dict with "state_dict", got list' in \
        capsys.readouterr().err


def test_readme_table_is_written_from_the_metafile():
    # (test_doc_tables.py holds docs/weights.md to the table of the files)
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        readme = f.read()
    assert len(PUBLISHED) == 12
    assert sorted(published_variant(e['Checkpoint']) for e in PUBLISHED) == \
        sorted((d, depth, eca)
               for d in ('faster_rcnn', 'retinanet', 'mask_rcnn')
               for depth in (50, 101) for eca in (False, True))
    # the paper's figures (README's COCO table): the same unless 'Paper' says
    paper = {
        f'configs/{m.group(1)}': tuple(map(float,
                                           m.groups()[1:]))
        for m in re.finditer(
            r'^\| `(\w+_coco\.py)` \| ([\d.]+) \| '
            r'([\d.]+) \| ([\d.]+) \|', readme, re.M)
    }
    for e in PUBLISHED:
        # a checkpoint's name ends in its box AP x 10
        assert e['Checkpoint'].endswith(f"_{round(e['AP'] * 10)}")
        ours = dict(AP=e['AP'], AP50=e['AP50'], AP75=e['AP75'])
        expected = dict(ours, **e.get('Paper', {}))
        assert paper[e['Config']] == tuple(expected.values()), e['Config']
