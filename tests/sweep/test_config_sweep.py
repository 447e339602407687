"""MMDetection's, MMPretrain's, MMSegmentation's and MMPose's own configs with
the backbone type swapped to its RLA twin: every group whose shipped config
runs here must run with RLA.

``RLA_SWEEP=full`` runs every group of the installed libraries
(``make test-sweep SWEEP=full``); otherwise a fixed sample covering every
mechanism a swap meets (DCN and DCNv2, plugins, C4 heads, caffe style and
frozen BN, ResNeXt, deep stems, DETR-family necks, mask, cascade and panoptic
heads; dilated, multi-grid, nested and staged ResNets in segmentors; each
head a top-down pose estimator puts on a ResNet; ``RLA_SWEEP=compat`` a
smaller one). MMPose is installed in the cu121 stack alone (``make
test-compat``'s environment, ``make test-sweep-compat``): elsewhere its test
is skipped, saying so. The records and a table per family
are written to ``$RLA_SWEEP_REPORT`` (default ``work_dirs/sweep``).

A full pass caps its memory at ``$RLA_SWEEP_MEM_GIB`` (default three quarters
of the machine's): a group that needs more is recorded as not running on this
machine, with PyTorch's allocation error. ``RLA_SWEEP_FROM=FOLDER`` runs the
MMDetection groups of that config folder and the folders after it.
"""
import json
import os
import os.path as osp

import config_sweep as cs
import pytest
from rla_testkit.checkout import stack_installs

MODE = os.environ.get('RLA_SWEEP', 'sample')
REPORT = os.environ.get('RLA_SWEEP_REPORT', osp.join('work_dirs', 'sweep'))
FIRST_FAMILY = os.environ.get('RLA_SWEEP_FROM') or None
if FIRST_FAMILY and MODE != 'full':
    raise ValueError(f'RLA_SWEEP_FROM={FIRST_FAMILY!r} resumes a full pass; '
                     f'set RLA_SWEEP=full (got RLA_SWEEP={MODE!r})')
if MODE == 'full':
    cs.cap_memory(
        float(os.environ.get('RLA_SWEEP_MEM_GIB') or cs.default_memory_gib()))
# a full pass runs for hours: no time limit then
pytestmark = [
    pytest.mark.sweep,
    pytest.mark.timeout(0 if MODE == 'full' else 900)
]

# One group per mechanism; each runs on a CPU with mmcv's CPU ops.
DET_SAMPLE = [
    'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'retinanet/retinanet_r18_fpn_1x_coco.py',
    'mask_rcnn/mask-rcnn_r50-caffe_fpn_1x_coco.py',
    'cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
    'cascade_rcnn/cascade-mask-rcnn_x101-32x4d_fpn_1x_coco.py',
    'rpn/rpn_r50-caffe-c4_1x_coco.py',
    'mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py',
    'dcn/faster-rcnn_r50-dconv-c3-c5_fpn_1x_coco.py',
    'dcnv2/faster-rcnn_r50-mdconv-c3-c5_fpn_1x_coco.py',
    'vfnet/vfnet_x101-64x4d-mdconv-c3-c5_fpn_ms-2x_coco.py',
    'gcnet/mask-rcnn_r50-gcb-r4-c3-c5_fpn_1x_coco.py',
    'empirical_attention/faster-rcnn_r50-attn0010_fpn_1x_coco.py',
    'nas_fcos/nas-fcos_r50-caffe_fpn_nashead-gn-head_4xb4-1x_coco.py',
    'atss/atss_r50_fpn_1x_coco.py',
    'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
    'centernet/centernet-update_r50-caffe_fpn_ms-1x_coco.py',
    'deformable_detr/deformable-detr-refine_r50_16xb2-50e_coco.py',
    'dino/dino-4scale_r50_8xb2-12e_coco.py',
    'condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py',
    'crowddet/crowddet-rcnn_r50_fpn_8xb2-30e_crowdhuman.py',
    'panoptic_fpn/panoptic-fpn_r50_fpn_1x_coco.py',
    'point_rend/point-rend_r50-caffe_fpn_ms-1x_coco.py',
]
DET_COMPAT = DET_SAMPLE[:8] + DET_SAMPLE[9:11]
# One group per way MMSegmentation builds its ResNet: output stride 8 by
# dilation (PSPNet, DeepLabV3+), undilated under a pyramid head (UPerNet),
# output stride 16 with multi-grid dilation, FastFCN's strided dilation with
# its JPU neck, the 7x7-stem ResNet dilated (FCN r18b), the ResNet nested in
# BiSeNetV1's context path, and ICNet's, whose stages it calls one by one.
SEG_SAMPLE = [
    'pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    'deeplabv3plus/deeplabv3plus_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    'upernet/upernet_r50_4xb2-40k_cityscapes-512x1024.py',
    'deeplabv3/deeplabv3_r101-d16-mg124_4xb2-40k_cityscapes-512x1024.py',
    'fastfcn/fastfcn_r50-d32_jpu_psp_4xb2-80k_cityscapes-512x1024.py',
    'fcn/fcn_r18b-d8_4xb2-80k_cityscapes-512x1024.py',
    'bisenetv1/bisenetv1_r18-d32_4xb4-160k_cityscapes-1024x1024.py',
    'icnet/icnet_r18-d8_4xb2-80k_cityscapes-832x832.py',
]
SEG_COMPAT = [SEG_SAMPLE[i] for i in (0, 3, 6)]
# MMPose's ResNet-family configs are all top-down estimators: one group per
# head on the ResNet (heatmaps after three deconvolutions or two, visibility,
# SimCC with and without deconvolutions, RLE regression after global pooling,
# DSNT integral regression, InterNet's 3D hand heatmaps) and per ResNet type.
POSE_SAMPLE = [
    'body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192.py',
    'body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_resnetv1d50_8xb64-210e_coco-256x192.py',
    'body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_resnext50_8xb64-210e_coco-256x192.py',
    'body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_seresnet50_8xb64-210e_coco-256x192.py',
    'body_2d_keypoint/topdown_heatmap/jhmdb/'
    'td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256.py',
    'body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge.py',
    'body_2d_keypoint/simcc/coco/simcc_res50_8xb64-210e_coco-256x192.py',
    'body_2d_keypoint/simcc/mpii/'
    'simcc_res50_wo-deconv-8xb64-210e_mpii-256x256.py',
    'body_2d_keypoint/topdown_regression/coco/'
    'td-reg_res50_rle-8xb64-210e_coco-256x192.py',
    'body_2d_keypoint/integral_regression/coco/'
    'ipr_res50_dsnt-8xb64-210e_coco-256x256.py',
    'hand_3d_keypoint/internet/interhand3d/'
    'internet_res50_4xb16-20e_interhand3d-256x256.py',
]
POSE_COMPAT = [POSE_SAMPLE[i] for i in (0, 2, 6, 8)]
POSE_MISSING = ('MMPose is not installed: the cu121 stack alone installs it '
                '(requirements/pose.txt; make test-compat, make '
                'test-sweep-compat), as its xtcocotools does not load on '
                'numpy 2')
CLS_TYPES = ('ImageClassifier', )


def run(library, selected, model_types=None, first_family=None):
    os.makedirs(REPORT, exist_ok=True)
    log = osp.join(REPORT,
                   f'{library}.jsonl')  # one line per group, as it ends
    if osp.exists(log):
        os.remove(log)
    records = cs.sweep(
        library, selected, model_types, log=log, first_family=first_family)
    with open(osp.join(REPORT, f'{library}.json'), 'w') as f:
        json.dump(records, f, indent=1)
    table = cs.summary(records)
    with open(osp.join(REPORT, f'{library}.md'), 'w') as f:
        f.write(table + '\n')
    print(f'\n{library} ({MODE}):\n{table}')
    for rec in records:
        if rec['status'] == 'skipped':
            print(f"  not on this machine: {rec['configs'][0]}: "
                  f"{rec['plain_error']}")
        if rec.get('note'):
            print(f"  passed, with {rec['configs'][0]}: {rec['note']}")
    return records


def failures(records):
    return [
        f"{r['configs'][0]}: {r['rla_error']}" for r in records
        if r['status'] == 'failed'
    ]


@pytest.mark.slow
def test_mmdetection_configs_run_with_their_rla_twin():
    selected = {'full': None, 'compat': DET_COMPAT}.get(MODE, DET_SAMPLE)
    records = run('mmdet', selected, first_family=FIRST_FAMILY)
    assert failures(records) == []
    if selected is not None:
        # the sample was chosen to run on a CPU: each config is found, swapped
        # and passes (a shipped config that stops running here shows up)
        assert sorted(c for r in records for c in r['configs']) == \
            sorted(selected)
        assert [r['configs'] for r in records if r['status'] != 'passed'] == []


@pytest.mark.slow
def test_mmpretrain_classifier_configs_run_with_their_rla_twin():
    records = run('mmpretrain', None, CLS_TYPES)
    assert failures(records) == []
    assert sum(r['status'] == 'passed' for r in records) >= 20
    assert {r['type'] for r in records} == set(cs.TWINS['mmpretrain'])


def test_mmsegmentation_configs_run_with_their_rla_twin():
    selected = {'full': None, 'compat': SEG_COMPAT}.get(MODE, SEG_SAMPLE)
    records = run('mmseg', selected)
    assert failures(records) == []
    if selected is not None:
        assert sorted(c for r in records for c in r['configs']) == \
            sorted(selected)
        assert [r['configs'] for r in records if r['status'] != 'passed'] == []
    else:
        assert sum(r['status'] == 'passed' for r in records) >= 200


def test_mmpose_configs_run_with_their_rla_twin():
    if not stack_installs('requirements/pose.txt'):
        pytest.importorskip('mmpose.models', reason=POSE_MISSING)
    selected = {'full': None, 'compat': POSE_COMPAT}.get(MODE, POSE_SAMPLE)
    records = run('mmpose', selected)
    assert failures(records) == []
    if selected is not None:
        assert sorted(c for r in records for c in r['configs']) == \
            sorted(selected)
        assert [r['configs'] for r in records if r['status'] != 'passed'] == []
    else:
        assert sum(r['status'] == 'passed' for r in records) >= 99
        assert {r['type'] for r in records} == \
            set(cs.TWINS['mmpose']) - {'SEResNeXt'}  # no config builds one


def test_a_resume_folder_without_groups_and_a_bad_cap_are_named():
    with pytest.raises(ValueError, match="'no_such_folder'.*'atss'"):
        cs.sweep(
            'mmdet', ['atss/atss_r50_fpn_1x_coco.py'],
            first_family='no_such_folder')
    with pytest.raises(
            ValueError, match='RLA_SWEEP_MEM_GIB must be > 0, got 0'):
        cs.cap_memory(0)
