"""configs/metafile_det.yml: the 12 COCO detection configs in MMDetection's
metafile schema, held to the configs they describe and to the README."""
import glob
import os.path as osp
import re

import torch
import yaml
from modelindex.load_model_index import load
from rla_testkit.checkout import REPO_ROOT

from rla_mm.configs import DET_METAFILE, load_metafile

DET = load_metafile(DET_METAFILE)


def test_one_entry_per_detection_config_and_model_index_lists_both():
    configs = sorted(
        osp.basename(p)
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*_coco.py')))
    assert len(configs) == 12 and sorted(DET) == configs
    for config, model in DET.items():
        assert model['Name'] == config[:-3]
        assert osp.isfile(osp.join(REPO_ROOT, model['Config']))
    # OpenMMLab's model-index loader reads both metafiles without errors
    index = load(osp.join(REPO_ROOT, 'model-index.yml'))
    index.build_models_with_collections()
    names = {m.name for m in index.models}
    assert names == {m['Name']
                     for m in DET.values()
                     } | {m['Name']
                          for m in load_metafile().values()}
    assert not [m.check_errors for m in index.models if m.check_errors]


def test_parameters_are_the_built_detectors():
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    for config, model in DET.items():
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', config))
        with torch.device('meta'):  # counts only: no memory, no init
            detector = MODELS.build(cfg.model)
        params = sum(p.numel() for p in detector.parameters())
        assert model['Metadata']['Parameters'] == params, config
    # one backbone + neck: the FLOPs of Faster and Mask R-CNN are the same
    for bb in ('r50', 'eca_r50', 'r101', 'eca_r101'):
        flops = {
            det: DET[f'{det}_rla_{bb}_fpn_1x_coco.py']['Metadata']['FLOPs']
            for det in ('faster_rcnn', 'mask_rcnn', 'retinanet')
        }
        assert flops['faster_rcnn'] == flops['mask_rcnn'] != flops['retinanet']
    assert 100e9 < min(m['Metadata']['FLOPs'] for m in DET.values())


def test_published_checkpoint_names_match_the_config():
    names = [m['Metadata']['Published Checkpoint'] for m in DET.values()]
    assert len(set(names)) == 12
    for config, model in DET.items():
        det, eca, depth = re.match(
            r'(faster_rcnn|retinanet|mask_rcnn)_rla_(eca_)?r(\d+)_fpn',
            config).groups()
        name = model['Metadata']['Published Checkpoint']
        assert re.fullmatch(
            rf'{det}_r{depth}rla{"eca" if eca else ""}_fpn_1x_coco_\d{{3}}',
            name), (config, name)
    assert DET['faster_rcnn_rla_r50_fpn_1x_coco.py']['Metadata'][
        'Published Checkpoint'] == 'faster_rcnn_r50rla_fpn_1x_coco_388'


def test_readme_coco_table_is_the_metafile():
    """README's COCO table rows repeat the paper's figures the metafile
    records, and name each config's published checkpoint."""
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        text = f.read()
    section = text[text.index('## COCO detection (MMDetection)'):]
    rows = re.findall(
        r'^\| `(\w+\.py)` \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| '
        r'([\d.]*) ?\| `(\w+)` \|$', section, re.M)
    assert len(rows) == 12
    for config, ap, ap50, ap75, mask, checkpoint in rows:
        assert checkpoint == DET[config]['Metadata']['Published Checkpoint']
        results = {r['Task']: r['Metrics'] for r in DET[config]['Results']}
        box = results['Object Detection']
        # Results are the published checkpoint's; the paper's where they differ
        paper = {
            k: DET[config]['Metadata'].get(f'Paper {k}', box[k])
            for k in ('box AP', 'box AP@0.5', 'box AP@0.75')
        }
        assert (float(ap), float(ap50),
                float(ap75)) == (paper['box AP'], paper['box AP@0.5'],
                                 paper['box AP@0.75']), config
        if mask:
            assert float(mask) == results['Instance Segmentation']['mask AP']
        else:
            assert 'Instance Segmentation' not in results


def test_metafile_det_is_plain_yaml_with_the_schema_keys():
    with open(osp.join(REPO_ROOT, 'configs', DET_METAFILE)) as f:
        data = yaml.safe_load(f)
    assert {c['Name']
            for c in data['Collections']
            } == {m['In Collection']
                  for m in data['Models']}
    for model in data['Models']:
        assert set(model) == {
            'Name', 'In Collection', 'Config', 'Metadata', 'Results'
        }
