"""tools/analysis_tools/visualize_rla.py on small checkpoints made here: a
classifier (RLA-ResNet-20 on digits, beside its plain twin) and a detector."""
import json
import math
import os.path as osp

import cv2
import pytest
from mmengine.config import Config
from rla_testkit.checkout import REPO_ROOT, load_tool
from rla_testkit.models import save_untrained

DEMO = osp.join(REPO_ROOT, 'configs', 'demo')
RLA_CLS = osp.join(DEMO, 'rla_resnet164_digits.py')
PLAIN_CLS = osp.join(DEMO, 'preact_resnet164_digits.py')
DET = osp.join(DEMO, 'faster_rcnn_rla_r18_fpn_digits.py')
# depth 20 (3 blocks per stage), k = 12: 64 + 12 features reach the head
RLA_OPTIONS = ['model.backbone.depth=20', 'model.head.in_channels=76']
PLAIN_OPTIONS = ['model.backbone.depth=20', 'model.head.in_channels=64']


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp('visualize')
    digits = str(folder / 'digits')
    written = load_tool('data/make_digits_cls.py').make_dataset(digits, seed=0)
    with open(written['test'][0]) as f:
        image = osp.join(digits, f.readline().split()[0])
    coco = str(folder / 'coco')
    load_tool('data/make_digits_coco.py').make_dataset(
        coco, num_train=2, num_val=1)
    det_image = osp.join(coco, 'val', '00001.png')
    return dict(
        image=image,
        det_image=det_image,
        rla=save_untrained(RLA_CLS, folder / 'rla.pth', RLA_OPTIONS),
        plain=save_untrained(PLAIN_CLS, folder / 'plain.pth', PLAIN_OPTIONS),
        det=save_untrained(DET, folder / 'det.pth'))


def visualize(args):
    return load_tool('analysis_tools/visualize_rla.py').main(args)


def numbers(result):
    return [
        v for row in result['updates'] for v in row.values()
        if isinstance(v, float)
    ]


def check_figures(out_dir, names):
    for name in names:
        img = cv2.imread(osp.join(out_dir, name))
        assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
        assert img.std() > 5  # something is drawn


def test_classifier_figures_json_and_repeatability(checkpoints, tmp_path):
    out = str(tmp_path / 'rla')
    args = [
        RLA_CLS, checkpoints['rla'], checkpoints['image'], '--out-dir', out,
        '--cfg-options', *RLA_OPTIONS, '--plain-config', PLAIN_CLS,
        '--plain-checkpoint', checkpoints['plain'], '--plain-cfg-options',
        *PLAIN_OPTIONS
    ]
    first = visualize(args)
    assert first['figures'] == [
        'hidden_state.png', 'update_strength.png', 'cam.png'
    ]
    check_figures(out, first['figures'])
    with open(osp.join(out, 'rla_hidden.json')) as f:
        written = json.load(f)
    assert written == json.loads(json.dumps(first))
    rows = written['updates']
    # A classifier updates h after every block: 3 stages x 3 blocks.
    assert [(r['stage'], r['block']) for r in rows] == [(f'layer{s}', b)
                                                        for s in (1, 2, 3)
                                                        for b in range(3)]
    assert [r['shape'] for r in rows[::3]] == [[12, 32, 32], [12, 16, 16],
                                               [12, 8, 8]]
    values = numbers(written)
    assert values and all(math.isfinite(v) for v in values)
    assert all(0 <= r['share_new'] <= 1 for r in rows)
    assert rows[0]['rms_carried'] == 0  # h_0 = 0
    # Knocking out the last update changes the final state the most a
    # block can: it is the final state's own input.
    assert rows[-1]['knock_out_on_final'] > 0
    assert all(r['knock_out_on_stage'] >= 0 for r in rows)
    assert set(written['cam']) == {'RLA', 'plain'}
    assert written['cam']['RLA']['name'] in Config.fromfile(RLA_CLS).classes
    # The tool's input is MMPretrain's: its CAM class and score are the
    # inferencer's prediction.
    from mmpretrain.apis import ImageClassificationInferencer
    cfg = Config.fromfile(RLA_CLS)
    cfg.merge_from_dict({
        k: int(v)
        for k, v in (o.split('=') for o in RLA_OPTIONS)
    })
    pred = ImageClassificationInferencer(
        cfg, pretrained=checkpoints['rla'])(checkpoints['image'])[0]
    assert written['cam']['RLA']['label'] == pred['pred_label']
    assert written['cam']['RLA']['score'] == pytest.approx(
        pred['pred_score'], rel=1e-4)
    # The same image gives the same numbers again.
    again = visualize(args[:4] + [str(tmp_path / 'again')] + args[5:])
    assert numbers(again) == values


def test_detector_shows_the_updates_it_builds(checkpoints, tmp_path):
    out = str(tmp_path / 'det')
    result = visualize([
        DET, checkpoints['det'], checkpoints['det_image'], '--out-dir', out,
        '--no-knock-out'
    ])
    assert result['scope'] == 'mmdet'
    assert result['figures'] == ['hidden_state.png', 'update_strength.png']
    check_figures(out, result['figures'])
    assert not osp.exists(osp.join(out, 'cam.png'))
    stages = [r['stage'] for r in result['updates']]
    # ResNet-18: 2 blocks per stage; no update after the last block.
    assert stages == ['layer1'] * 2 + ['layer2'] * 2 + ['layer3'] * 2 + [
        'layer4'
    ]
    assert 'knock_out_on_final' not in result['updates'][0]
    assert all(math.isfinite(v) for v in numbers(result))


def test_bad_inputs_are_named(checkpoints, tmp_path):
    with pytest.raises(ValueError, match='no RLA stage with a hidden-state'):
        visualize([
            PLAIN_CLS, checkpoints['plain'], checkpoints['image'], '--out-dir',
            str(tmp_path), '--cfg-options', *PLAIN_OPTIONS
        ])
    with pytest.raises(FileNotFoundError, match="image 'nope.png' does not"):
        visualize([
            RLA_CLS, checkpoints['rla'], 'nope.png', '--out-dir',
            str(tmp_path), '--cfg-options', *RLA_OPTIONS
        ])
    with pytest.raises(SystemExit):  # the plain twin needs both files
        visualize([
            RLA_CLS, checkpoints['rla'], checkpoints['image'], '--out-dir',
            str(tmp_path), '--plain-config', PLAIN_CLS
        ])
