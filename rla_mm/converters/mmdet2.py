"""Convert the authors' MMDetection 2.x RLA detectors (12 COCO checkpoints) to
rla_mm's 3.x configs; docs/weights.md describes the format and the mapping.

The backbone goes through the classifier converter's rules
(:data:`rla_mm.converters.rlanet.RESNET_RULES`); the neck and heads keep their
2.x names (:data:`HEAD_KEYS`). The steps, one function each, run in order by
:func:`convert_checkpoint`: :func:`load_mmdet2_checkpoint`, :func:`identify`,
:func:`choose_config`, :func:`build_detector`,
:func:`convert_detector_state_dict`, :func:`convert_meta`,
:func:`save_detector`, :func:`report`. Command line:
``python -m rla_mm.convert_mmdet2 SRC DST [--config CONFIG]``.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ..configs import get_config_path
from ..safe_loading import load_foreign
from ._mapping import (ConversionError, apply_rules, map_weights,
                       raise_on_problems, strip_wrapper)
from .rlanet import CLASSIFIER_FORM, RESNET_RULES

# the detectors and the MMDetection model type of each
DETECTORS = dict(
    faster_rcnn='FasterRCNN', retinanet='RetinaNet', mask_rcnn='MaskRCNN')
DEPTHS = {6: 50, 23: 101}  # blocks of the third stage -> ResNet depth

_WB = r'(weight|bias)'
_FPN = [
    rf'neck\.lateral_convs\.\d+\.conv\.{_WB}',
    rf'neck\.fpn_convs\.\d+\.conv\.{_WB}'
]
_RPN = [rf'rpn_head\.rpn_(conv|cls|reg)\.{_WB}']
_BBOX = [rf'roi_head\.bbox_head\.(fc_cls|fc_reg|shared_fcs\.\d+)\.{_WB}']
# MMDetection 2.x neck and head keys of each detector, carried over unchanged:
# their 3.x modules have the same names (FPN lateral_convs / fpn_convs, RPNHead
# rpn_conv / rpn_cls / rpn_reg, Shared2FCBBoxHead shared_fcs / fc_cls / fc_reg,
# FCNMaskHead convs / upsample / conv_logits, RetinaHead cls_convs / reg_convs
# / retina_cls / retina_reg).
HEAD_KEYS: Dict[str, List[str]] = {
    'faster_rcnn':
    _FPN + _RPN + _BBOX,
    'mask_rcnn':
    _FPN + _RPN + _BBOX +
    [rf'roi_head\.mask_head\.(convs\.\d+\.conv|upsample|conv_logits)\.{_WB}'],
    'retinanet':
    _FPN + [
        rf'bbox_head\.(cls_convs|reg_convs)\.\d+\.conv\.{_WB}',
        rf'bbox_head\.retina_(cls|reg)\.{_WB}'
    ],
}

# meta entries of a 2.x checkpoint kept (under meta['converted_from'])
_PROVENANCE = ('mmdet_version', 'mmcv_version', 'epoch', 'iter')


def load_mmdet2_checkpoint(path: str) -> dict:
    """Load the 2.x checkpoint ``path``; raise ``ConversionError`` for a file
    that would need unsafe unpickling (``weights_only=False``)."""
    try:
        checkpoint = load_foreign(path)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()
        raise ConversionError(
            f'refusing {path}: it holds Python objects beyond tensors, '
            'numbers, strings and containers, which only an unsafe torch.load '
            '(weights_only=False) would build, running code from the file. '
            f'torch says: {" ".join(reason[:3])}') from None
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ConversionError(
            f'{path} is not an MMDetection checkpoint: expected a dict with '
            f'"state_dict", got {type(checkpoint).__name__}' +
            (f' with keys {sorted(checkpoint)[:10]}' if isinstance(
                checkpoint, dict) else ''))
    return checkpoint


class Detector(NamedTuple):
    """What :func:`identify` reads from a 2.x detector's weights."""
    detector: str  # one of DETECTORS
    depth: int  # 50 or 101
    eca: bool


def identify(state_dict: Dict[str, Tensor]) -> Detector:
    """(detector, depth, eca) of a 2.x RLA detector's weights."""
    if 'roi_head.mask_head.conv_logits.weight' in state_dict:
        detector = 'mask_rcnn'
    elif 'rpn_head.rpn_cls.weight' in state_dict:
        detector = 'faster_rcnn'
    elif 'bbox_head.retina_cls.weight' in state_dict:
        detector = 'retinanet'
    else:
        raise ConversionError(
            'not one of the authors\' detectors: expected the keys of a '
            'Faster R-CNN (rpn_head.rpn_cls.weight), Mask R-CNN '
            '(roi_head.mask_head.conv_logits.weight) or RetinaNet '
            '(bbox_head.retina_cls.weight)')
    blocks = {
        int(m.group(1))
        for m in (re.match(r'backbone\.stages\.2\.(\d+)\.', k)
                  for k in state_dict) if m
    }
    if not blocks or max(blocks) + 1 not in DEPTHS:
        raise ConversionError(
            f'backbone.stages.2 has {max(blocks) + 1 if blocks else 0} '
            f'blocks; expected {sorted(DEPTHS)} (RLA-ResNet-50 / -101, the '
            'published detectors)')
    eca = any(k.endswith('.eca.conv.weight') for k in state_dict)
    return Detector(detector, DEPTHS[max(blocks) + 1], eca)


def config_name(detector: str, depth: int, eca: bool) -> str:
    """Our config of a published detector (one of :data:`DETECTORS`, depth
    50 or 101, with or without ECA), e.g.
    'retinanet_rla_eca_r101_fpn_1x_coco.py'."""
    return f'{detector}_rla{"_eca" if eca else ""}_r{depth}_fpn_1x_coco.py'


def detector_of_config(config: str) -> Optional[Detector]:
    """The (detector, depth, eca) whose config is ``config`` (a path or name),
    the inverse of :func:`config_name`; None for another config."""
    name = osp.basename(config)
    for detector in DETECTORS:
        for depth in DEPTHS.values():
            for eca in (False, True):
                if config_name(detector, depth, eca) == name:
                    return Detector(detector, depth, eca)
    return None


def num_classes_of(state_dict: Dict[str, Tensor], cfg) -> int:
    """The class count that the checkpoint's classifier layers were built
    for (``cfg``, our config, gives RetinaNet's anchors per place)."""
    if 'roi_head.bbox_head.fc_cls.weight' in state_dict:
        return state_dict['roi_head.bbox_head.fc_cls.weight'].shape[0] - 1
    anchors = cfg.model.bbox_head.anchor_generator
    per_place = len(anchors.ratios) * anchors.scales_per_octave
    return state_dict['bbox_head.retina_cls.weight'].shape[0] // per_place


def set_num_classes(cfg, num_classes: int) -> List[str]:
    """Set the heads' class count in ``cfg``; return the ``--cfg-options``
    words that do the same for tools/test.py."""
    if 'roi_head' in cfg.model:
        heads = ['roi_head.bbox_head'] + (['roi_head.mask_head'] if 'mask_head'
                                          in cfg.model.roi_head else [])
    else:
        heads = ['bbox_head']
    for head in heads:
        node = cfg.model
        for part in head.split('.'):
            node = node[part]
        node.num_classes = num_classes
    return [f'model.{head}.num_classes={num_classes}' for head in heads]


def build_detector(cfg):
    """Our detector of ``cfg`` (no pretrained backbone), as MMDetection builds
    it."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None
    return MODELS.build(model_cfg)


def unread_backbone_keys(backbone_cfg: dict,
                         backbone: torch.nn.Module) -> List[str]:
    """``backbone.*`` keys of the authors' layout that ``backbone`` (built
    from ``backbone_cfg``) does not build because nothing reads them: those of
    the classifier form (hidden state kept to the end) that it lacks."""
    from ..models import RLAResNet
    kwargs = {
        k: v
        for k, v in backbone_cfg.items()
        if k not in ('type', 'init_cfg', 'out_indices', 'frozen_stages',
                     'norm_eval')
    }
    classifier = RLAResNet(**CLASSIFIER_FORM, **kwargs)
    return sorted(f'backbone.{k}' for k in set(classifier.state_dict()) -
                  set(backbone.state_dict()))


def convert_detector_state_dict(
        state_dict: Dict[str, Tensor], detector: str, model: torch.nn.Module,
        unread: List[str]) -> Tuple[Dict[str, Tensor], List[str]]:
    """Map a 2.x detector state dict onto ``model``'s keys and check it whole.

    Args:
        state_dict (dict): The 2.x weights.
        detector (str): One of :data:`DETECTORS` (which head keys are known).
        model (nn.Module): Our detector, built from its config.
        unread (list[str]): Target keys our backbone does not build because
            nothing reads them; their sources are dropped.

    Returns:
        tuple: the converted weights and the dropped source keys.

    Raises:
        ConversionError: listing unmapped source keys, missing target keys and
            shape mismatches.
    """
    expected = {k: v.shape for k, v in model.state_dict().items()}
    heads = HEAD_KEYS[detector]

    def targets_of(key: str) -> List[str]:
        if key.startswith('backbone.'):
            target = apply_rules(key[len('backbone.'):], RESNET_RULES)
            return [] if target is None else [target]
        return [key] if any(re.fullmatch(p, key) for p in heads) else []

    converted, unmapped, missing, mismatched, dropped = map_weights(
        state_dict, expected, targets_of, unread)
    raise_on_problems(
        f'checkpoint does not match {type(model).__name__} '
        f'({detector})', unmapped, missing, mismatched)
    return converted, dropped


def convert_meta(meta: Optional[dict], source: str) -> Tuple[dict, List[str]]:
    """The 3.x ``meta`` of a converted checkpoint (from the 2.x ``meta`` of
    the file ``source``) and the 2.x entries dropped."""
    meta = dict(meta or {})
    out = dict(
        converted_from=dict(
            file=source, converter='rla_mm mmdet2_rla_to_rla_mm'))
    classes = meta.pop('CLASSES', None)
    if classes is not None:
        out['dataset_meta'] = dict(classes=tuple(str(c) for c in classes))
        palette = meta.pop('PALETTE', None)
        if palette is not None:
            out['dataset_meta']['palette'] = [tuple(p) for p in palette]
    for key in _PROVENANCE:
        if key in meta:
            out['converted_from'][key] = meta.pop(key)
    return out, sorted(meta)


class Choice(NamedTuple):
    """Our config for a checkpoint, as :func:`choose_config` picks it."""
    cfg: object  # mmengine Config, its heads' class count set
    shown: str  # how to name the config on the command line
    num_classes: int
    options: List[str]  # --cfg-options words of tools/test.py for that count


def choose_config(state_dict: Dict[str, Tensor],
                  found: Detector,
                  config: Optional[str] = None) -> Choice:
    """Our config for a detector's weights, with the class count of its heads.

    Args:
        state_dict (dict): The 2.x weights.
        found (Detector): What :func:`identify` read from them.
        config (str, optional): A config path or a name under configs/;
            default: ours for the detector, depth and ECA.

    Raises:
        ConversionError: when ``config`` builds another detector type.
    """
    from mmengine.config import Config
    name = config or config_name(*found)
    cfg = Config.fromfile(name if osp.isfile(name) else get_config_path(name))
    if cfg.model.type != DETECTORS[found.detector]:
        raise ConversionError(
            f'the weights are a {DETECTORS[found.detector]} but {name} builds '
            f'a {cfg.model.type}')
    num_classes = num_classes_of(state_dict, cfg)
    options = set_num_classes(cfg, num_classes)
    shown = name if osp.isfile(name) else f'configs/{name}'
    return Choice(cfg, shown, num_classes, options)


def save_detector(dst: str, meta: dict, converted: Dict[str, Tensor]) -> None:
    """Write a converted detector checkpoint, creating its folder."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(meta=meta, state_dict=converted), dst)


def report(checkpoint: dict, found: Detector, choice: Choice, dst: str,
           converted: Dict[str, Tensor], dropped: List[str],
           dropped_meta: List[str], classes: Optional[tuple]) -> str:
    """What the command prints after a conversion."""
    version = checkpoint.get('meta', {}).get('mmdet_version', '2.x')
    lines = [
        f'converted {found.detector} RLA-ResNet-{found.depth}'
        f'{"-ECA" if found.eca else ""} (MMDetection {version}): '
        f'{len(converted)} tensors',
        'dropped: ' +
        ', '.join([k for k in ('optimizer', ) if k in checkpoint] +
                  [f'meta.{k}' for k in dropped_meta] + [
                      f'{k}.* (nothing reads it)'
                      for k in sorted({k.rsplit('.', 1)[0]
                                       for k in dropped})
                  ]),
        (f'classes: {len(classes)} names -> meta.dataset_meta.classes'
         if classes is not None else
         'classes: the checkpoint has no meta.CLASSES; none stored'),
        f'config: {choice.shown}',
    ]
    test = f'python tools/test.py {choice.shown} {dst}'
    if choice.num_classes != 80:  # our configs are COCO's
        test += ' --cfg-options ' + ' '.join(choice.options)
    lines += [f'evaluate: {test}', f'wrote {dst}']
    return '\n'.join(lines)


def convert_checkpoint(checkpoint: dict,
                       source: str,
                       dst: str,
                       config: Optional[str] = None) -> str:
    """Convert a loaded 2.x checkpoint into ``dst``; return the report to
    print.

    Args:
        checkpoint (dict): The checkpoint (:func:`load_mmdet2_checkpoint`).
        source (str): Its file's name, kept in ``meta``.
        dst (str): Where to write the converted checkpoint.
        config (str, optional): Our config; default: read from the weights.
    """
    state_dict, _ = strip_wrapper(checkpoint)
    found = identify(state_dict)
    choice = choose_config(state_dict, found, config)
    model = build_detector(choice.cfg)
    converted, dropped = convert_detector_state_dict(
        state_dict, found.detector, model,
        unread_backbone_keys(choice.cfg.model.backbone, model.backbone))
    meta, dropped_meta = convert_meta(checkpoint.get('meta'), source)
    classes = meta.get('dataset_meta', {}).get('classes')
    if classes is not None and len(classes) != choice.num_classes:
        raise ConversionError(
            f'meta CLASSES has {len(classes)} names but the heads are built '
            f'for {choice.num_classes} classes')
    save_detector(dst, meta, converted)
    return report(checkpoint, found, choice, dst, converted, dropped,
                  dropped_meta, classes)


def convert_file(src: str, dst: str, config: Optional[str] = None) -> str:
    """Convert the 2.x checkpoint ``src`` into ``dst`` (with our ``config``;
    default: read from the weights); return the report."""
    return convert_checkpoint(
        load_mmdet2_checkpoint(src), osp.basename(src), dst, config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert one of the authors' MMDetection 2.x RLA detector "
        'checkpoints (Faster R-CNN, RetinaNet, Mask R-CNN; RLA-ResNet-50/101, '
        '+ECA) into a checkpoint of our MMDetection 3.x config.')
    parser.add_argument('src', help='MMDetection 2.x checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the rla_mm checkpoint')
    parser.add_argument(
        '--config',
        help='the detector config to check the weights against, a path or a '
        'name under configs/ (default: ours for the detector, depth and ECA '
        'read from the weights)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(
            f'error: source checkpoint {args.src!r} does not exist',
            file=sys.stderr)
        return 1
    try:
        print(convert_file(args.src, args.dst, args.config))
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
