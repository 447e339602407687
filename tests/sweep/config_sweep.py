"""Swap the backbone type of MMDetection's, MMPretrain's, MMSegmentation's and
MMPose's own configs to its RLA twin, and run each model once: a loss, a
backward and a predict on synthetic inputs (MMDetection's own; images and
labels made here for the others, MMPose's targets by its own codec).

Configs that differ only in data, schedule or runtime (the same ``model`` dict,
the backbone's ``init_cfg`` and ``pretrained`` aside) form one group; one run
per group, on 64-pixel images, or on 256-pixel ones where 64 is too small for
the model. A group whose RLA run fails on both is run again as shipped (its own
ResNet): if that fails too, the group cannot run on this machine (missing CPU
kernels, optional packages, downloads) and is reported with the reason, not
counted.

MMSegmentation nests the ResNet in two backbones (BiSeNetV1's and ICNet's
``backbone_cfg``): the first ResNet-family dict under ``model.backbone`` is
the one swapped.

MMPose's top-down models take a fixed input size, which their codec (the
head's ``decoder``) and some heads (SimCC's, DSNT's) are built for: a run at
side ``s`` sets the input to s x s and scales every size of the head and codec
alike (heatmap, feature map), as a config written for that input would.
"""
import copy
import glob
import importlib
import json
import logging
import os.path as osp
import time
import traceback
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

#: Their ResNet family -> our twin, per library.
TWINS = {
    'mmdet': {
        'ResNet': 'RLAResNet',
        'ResNetV1d': 'RLAResNetV1d',
        'ResNeXt': 'RLAResNeXt'
    },
    'mmpretrain': {
        'ResNet_CIFAR': 'RLAResNet_CIFAR',
        'ResNet': 'RLAResNet',
        'ResNetV1c': 'RLAResNetV1c',
        'ResNetV1d': 'RLAResNetV1d',
        'ResNeXt': 'RLAResNeXt',
        'SEResNet': 'RLASEResNet',
        'SEResNeXt': 'RLASEResNeXt'
    },
    'mmseg': {
        'ResNet': 'RLAResNet',
        'ResNetV1c': 'RLAResNetV1c',
        'ResNetV1d': 'RLAResNetV1d',
        'ResNeXt': 'RLAResNeXt'
    },
    'mmpose': {
        'ResNet': 'RLAResNet',
        'ResNetV1d': 'RLAResNetV1d',
        'ResNeXt': 'RLAResNeXt',
        'SEResNet': 'RLASEResNet',
        'SEResNeXt': 'RLASEResNeXt'
    },
}


def config_root(library: str) -> str:
    """The configs an installed library ships (``<package>/.mim/configs``)."""
    module = __import__(library)
    return osp.join(osp.dirname(module.__file__), '.mim', 'configs')


def _without_pretrained(obj):
    """A copy with every ``init_cfg`` / ``pretrained`` that loads weights
    dropped (nothing downloads)."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == 'pretrained' and isinstance(v, str):
                continue
            if k == 'init_cfg' and 'Pretrained' in json.dumps(v, default=str):
                continue
            out[k] = _without_pretrained(v)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_without_pretrained(v) for v in obj)
    return obj


def find_dict(obj, predicate: Callable[[dict], bool]) -> Optional[dict]:
    """The first dict in ``obj`` (itself, or nested in dicts and lists, depth
    first) for which ``predicate`` holds; None if there is none."""
    if isinstance(obj, dict):
        if predicate(obj):
            return obj
        values = obj.values()
    elif isinstance(obj, (list, tuple)):
        values = obj
    else:
        return None
    for value in values:
        found = find_dict(value, predicate)
        if found is not None:
            return found
    return None


def resnet_of(model: dict, library: str) -> Optional[dict]:
    """The ResNet-family dict of ``model``'s backbone: the backbone itself, or
    the first one nested in it (MMSegmentation's BiSeNetV1 and ICNet build
    theirs from ``backbone_cfg``); None if there is none."""
    return find_dict(
        model.get('backbone'), lambda d: d.get('type') in TWINS[library])


def groups(library: str,
           model_types: Optional[tuple] = None,
           configs: Optional[List[str]] = None) -> 'OrderedDict':
    """{group key: {'model': model dict, 'configs': [paths]}} of the library's
    configs whose backbone is of its ResNet family (all of them, or
    ``configs``, paths relative to the library's config folder)."""
    root = config_root(library)
    found: Dict[str, dict] = OrderedDict()
    paths = sorted(glob.glob(osp.join(root, '**', '*.py'), recursive=True)) \
        if configs is None else [osp.join(root, c) for c in configs]
    for path in paths:
        if '/_base_/' in path:
            continue
        try:
            cfg = Config.fromfile(path)
        except Exception:  # configs that need packages this env lacks
            continue
        model = cfg.get('model')
        if not isinstance(model, dict):
            continue
        if 'data_preprocessor' in cfg and 'data_preprocessor' not in model:
            # MMPretrain's tools put a top-level one into the model
            model['data_preprocessor'] = cfg.data_preprocessor
        model = ConfigDict(_without_pretrained(model.to_dict()))
        if resnet_of(model, library) is None:
            continue
        if model_types and model.get('type') not in model_types:
            continue
        key = json.dumps(model, sort_keys=True, default=str)
        entry = found.setdefault(key, dict(model=model, configs=[]))
        entry['configs'].append(osp.relpath(path, root))
    return found


def _light(model: dict) -> dict:
    """The model with its data preprocessor's batch augments (large-scale
    jitter pads every batch to 1024x1024) left out: they make the small
    synthetic batch a large one, and are not the backbone's concern."""
    model = copy.deepcopy(model)
    if isinstance(model.get('data_preprocessor'), dict):
        model['data_preprocessor'].pop('batch_augments', None)
    return model


def _swap(model: dict, library: str) -> dict:
    model = copy.deepcopy(model)
    resnet = resnet_of(model, library)
    resnet['type'] = TWINS[library][resnet['type']]
    return model


#: Input sides: the small one first; a group that fails on it runs again on the
#: large one (a deformable conv needs a 3x3 map at stride 32; DINO's 900
#: queries need as many encoder tokens).
SIDES = (64, 256)


def _det_inputs(side: int):
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    return demo_mm_inputs(
        2, [[3, side, side], [3, side * 3 // 4, side]],
        num_classes=2,
        with_mask=True,
        with_semantic=True)


def _cls_inputs(side: int):
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    inputs = [
        torch.randint(0, 256, (3, side, side), dtype=torch.uint8)
        for _ in range(2)
    ]
    samples = [DataSample().set_gt_label(0) for _ in range(2)]
    return dict(inputs=inputs, data_samples=samples)


def _seg_inputs(side: int, training: bool):
    """Two images with a label map each (classes 0 and 1, some pixels 255,
    ignored), and the meta-information a dataset pipeline sets. Training
    images differ in size (the data preprocessor pads them); a test batch has
    one size, as MMSegmentation's test loader gives it."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    sizes = [(side, side), (side * 3 // 4 if training else side, side)]
    inputs, samples = [], []
    for h, w in sizes:
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        label = torch.randint(0, 2, (1, h, w))
        label[:, :h // 8] = 255
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(h, w),
                ori_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1., 1.),
                flip=False))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


#: The sizes an MMPose head and codec take, each (width, height[, depth]).
POSE_SIZE_KEYS = ('input_size', 'image_size', 'heatmap_size',
                  'in_featuremap_size')


def pose_codec(model_cfg: dict) -> dict:
    """The codec of an MMPose model: its head's ``decoder`` (VisPredictHead's
    is its pose head's)."""
    return find_dict(model_cfg['head'],
                     lambda d: isinstance(d.get('decoder'), dict))['decoder']


def _pose_input_size(codec: dict) -> tuple:
    """(width, height) of the input the codec encodes for (Hand3DHeatmap
    calls it ``image_size``)."""
    return tuple(codec.get('input_size') or codec['image_size'])


def pose_sized(model_cfg: dict, side: int) -> dict:
    """The MMPose model with input side x side: every size its head and
    codec take scaled alike (the heatmaps stay input / 4, a SimCC or DSNT
    head's feature map input / 32); a depth (Hand3DHeatmap's third heatmap
    size) stays."""
    model_cfg = copy.deepcopy(model_cfg)
    width, height = _pose_input_size(pose_codec(model_cfg))
    scale = (side / width, side / height)

    def resize(obj):
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key in POSE_SIZE_KEYS and isinstance(
                        value, (list, tuple)) and len(value) >= 2:
                    obj[key] = type(value)(
                        [round(v * f)
                         for v, f in zip(value, scale)] + list(value[2:]))
                else:
                    resize(value)
        elif isinstance(obj, list):
            for value in obj:
                resize(value)

    resize(model_cfg['head'])
    return model_cfg


def pose_num_keypoints(head: dict) -> int:
    """The keypoints an MMPose head predicts."""
    if 'pose_cfg' in head:  # VisPredictHead: its pose head's
        return pose_num_keypoints(head['pose_cfg'])
    if 'keypoint_head_cfg' in head:
        # InternetHead: one keypoint head per hand, depth_size heatmaps per
        # keypoint
        cfg = head['keypoint_head_cfg']
        return 2 * cfg['out_channels'] // cfg.get('depth_size', 64)
    return head.get('num_joints') or head['out_channels']


def _pose_inputs(model_cfg: dict, training: bool):
    """Two top-down crops at the codec's input size, each one instance with
    every keypoint visible, packed by MMPose's own ``PackPoseInputs``; for
    training, the targets its ``GenerateTarget`` makes with the codec
    (heatmaps, regression or SimCC labels, ...), as the data pipeline does."""
    from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
    codec = pose_codec(model_cfg)
    width, height = _pose_input_size(codec)
    num = pose_num_keypoints(model_cfg['head'])
    rng = np.random.RandomState(0)
    inputs, samples = [], []
    for i in range(2):
        keypoints = rng.uniform(0.1, 0.9, (1, num, 2)) * (width, height)
        if codec.get('image_size'):  # Hand3DHeatmap: 3D keypoints (depth 0)
            keypoints = np.concatenate([keypoints, np.zeros((1, num, 1))], -1)
        results = dict(
            id=i,
            img_id=i,
            img=rng.randint(0, 256, (height, width, 3), dtype=np.uint8),
            img_shape=(height, width),
            ori_shape=(height, width),
            input_size=(width, height),
            input_center=np.array([[width / 2, height / 2]], np.float32),
            input_scale=np.array([[width, height]], np.float32),
            bbox=np.array([[0, 0, width, height]], np.float32),
            bbox_score=np.ones(1, np.float32),
            keypoints=keypoints.astype(np.float32),
            keypoints_visible=np.ones((1, num), np.float32),
            flip_indices=list(range(num)),
            dataset_keypoint_weights=np.ones(num, np.float32),
            # what Hand3DHeatmap encodes beside the keypoints
            rel_root_depth=np.float32(0),
            rel_root_valid=np.float32(1),
            hand_type=np.array([[1, 0]], np.float32),
            hand_type_valid=np.ones(1, np.float32),
            focal=np.array([1000, 1000], np.float32),
            principal_pt=np.array([width / 2, height / 2], np.float32))
        if training:
            results = GenerateTarget(encoder=codec).transform(results)
        packed = PackPoseInputs().transform(results)
        inputs.append(packed['inputs'])
        samples.append(packed['data_samples'])
    return dict(inputs=inputs, data_samples=samples)


def _inputs(library: str, side: int, training: bool, model_cfg: dict):
    if library == 'mmdet':
        return _det_inputs(side)
    if library == 'mmseg':
        return _seg_inputs(side, training)
    if library == 'mmpose':
        return _pose_inputs(model_cfg, training)
    return _cls_inputs(side)


def _small_crop(model_cfg: dict, side: int) -> dict:
    """MMSegmentation's data preprocessor pads every training image to the
    config's crop size (512x1024 for Cityscapes), which costs seconds per
    image on a CPU: pad to the synthetic images' size instead."""
    model_cfg = copy.deepcopy(model_cfg)
    preprocessor = model_cfg.get('data_preprocessor')
    if isinstance(preprocessor, dict) and preprocessor.get('size'):
        preprocessor['size'] = (side, side)
    return model_cfg


def _stages_called_alone(backbone: torch.nn.Module) -> tuple:
    """Hooks that collect the RLA stages called without a ``HiddenState``
    (``layerN(x)``, as ICNet calls them), and that list."""
    from rla_mm.models.layers import RLAStage
    alone, handles = [], []
    for name, module in backbone.named_modules():
        if isinstance(module, RLAStage):

            def hook(module, args, name=name):
                if len(args) < 2 or args[1] is None:
                    alone.append(name)

            handles.append(module.register_forward_pre_hook(hook))
    return alone, handles


def run_model(model_cfg: dict,
              library: str,
              side: int = SIDES[0]) -> Optional[str]:
    """Build ``model_cfg`` under ``library``'s scope; one loss, backward and
    predict; every trainable backbone parameter must get a gradient, but the
    last RLA norm of a stage that the model calls alone (which skips the
    update after its last block); return a note naming those."""
    from mmengine.logging import MessageHub
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS
    torch.manual_seed(0)
    # what a Runner provides: the loop's progress (TOOD's head reads the epoch)
    hub = MessageHub.get_current_instance()
    for key, value in (('epoch', 0), ('iter', 0), ('max_epochs', 1),
                       ('max_iters', 1)):
        hub.update_info(key, value)
    if library == 'mmseg':
        model_cfg = _small_crop(model_cfg, side)
    if library == 'mmpose':
        model_cfg = pose_sized(model_cfg, side)
    with DefaultScope.overwrite_default_scope(library):
        # and, outside distributed training, SyncBN reverted to BN
        model = revert_sync_batchnorm(MODELS.build(copy.deepcopy(model_cfg)))
        # as the Runner does: some heads create parameters uninitialised
        # (DETR's level embeddings) and fill them here; its per-tensor log
        # lines are left out of the report
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        model.train()
        alone, handles = _stages_called_alone(model.backbone)
        data = model.data_preprocessor(
            _inputs(library, side, True, model_cfg), True)
        losses = model(**data, mode='loss')
        for handle in handles:
            handle.remove()
        loss, _ = model.parse_losses(losses)
        loss.backward()
        # a stage called alone skips the update after its last block
        stages = {n: model.backbone.get_submodule(n) for n in alone}
        skipped = sorted(f'{n}.norms.{len(s) - 1}' for n, s in stages.items()
                         if len(s.norms) == len(s))
        dead = [
            n for n, p in model.backbone.named_parameters() if p.requires_grad
            and p.grad is None and n.rsplit('.', 1)[0] not in skipped
        ]
        if dead:
            raise AssertionError(f'backbone parameters without a gradient: '
                                 f'{dead[:5]} ({len(dead)} in all)')
        model.eval()
        with torch.no_grad():
            data = model.data_preprocessor(
                _inputs(library, side, False, model_cfg))
            model(**data, mode='predict')
    if skipped:
        return (f'stages called alone: {", ".join(skipped)} get no gradient '
                f'(DDP: find_unused_parameters=True)')
    return None


def _error(err: BaseException) -> str:
    last = traceback.extract_tb(err.__traceback__)[-1]
    return (f'{type(err).__name__}: '
            f'{str(err).splitlines()[0][:160] if str(err) else ""} '
            f'({osp.basename(last.filename)}:{last.lineno})')


def cap_memory(gib: float) -> None:
    """Limit this process's address space to ``gib`` GiB: a group that needs
    more fails with PyTorch's "can't allocate memory" and is recorded like any
    other error, instead of the machine stopping the whole sweep."""
    import resource
    if gib <= 0:
        raise ValueError(f'RLA_SWEEP_MEM_GIB must be > 0, got {gib!r}')
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(gib * 2**30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def default_memory_gib() -> float:
    """Three quarters of the machine's memory (``MemTotal``), in GiB."""
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return round(int(line.split()[1]) / 2**20 * 0.75, 1)
    raise RuntimeError('/proc/meminfo has no MemTotal line')


def _family(entry: dict, library: str) -> str:
    """The config folder of a group (its first config's); for MMPose, its
    task and method (``body_2d_keypoint/topdown_heatmap``): MMPose files its
    configs by task, then method, then data set."""
    levels = 2 if library == 'mmpose' else 1
    return '/'.join(entry['configs'][0].split('/')[:levels])


def sweep(library: str,
          selected: Optional[List[str]] = None,
          model_types: Optional[tuple] = None,
          log: Optional[str] = None,
          first_family: Optional[str] = None) -> List[dict]:
    """Run every group (or the groups of the ``selected`` configs alone; with
    ``first_family``, those of that config folder and the folders after it,
    in order: how a stopped full pass resumes).

    Returns one record per group: its configs, the twin type, ``status``
    ('passed', 'failed' when only the RLA twin fails, 'skipped' when the
    shipped config fails too) and the errors.
    """
    utils = importlib.import_module(f'{library}.utils')
    utils.register_all_modules(init_default_scope=False)
    import rla_mm  # noqa: F401
    records = []
    entries = list(groups(library, model_types, selected).values())
    if first_family is not None:
        families = {_family(e, library) for e in entries}
        if first_family not in families:
            raise ValueError(f'no {library} config folder {first_family!r} '
                             f'with a ResNet-family group; expected one of '
                             f'{sorted(families)}')
        entries = [e for e in entries if _family(e, library) >= first_family]
    for entry in entries:
        note = None
        resnet = resnet_of(entry['model'], library)
        rec = dict(
            configs=entry['configs'],
            family=_family(entry, library),
            type=resnet['type'],
            depth=resnet.get('depth'))
        start = time.time()
        twin, plain = _swap(_light(entry['model']), library), \
            _light(entry['model'])
        try:
            note = run_model(twin, library)
            rec['status'] = 'passed'
        except Exception as small:  # noqa: BLE001 (recorded)
            rec['small_side_error'] = _error(small)
            try:
                note = run_model(twin, library, SIDES[1])
                rec['status'] = 'passed'
                rec['side'] = SIDES[1]
            except Exception as err:  # noqa: BLE001
                rec['rla_error'] = _error(err)
                try:
                    run_model(plain, library, SIDES[1])
                    rec['status'] = 'failed'
                except Exception as plain_err:  # noqa: BLE001
                    rec['status'] = 'skipped'
                    rec['plain_error'] = _error(plain_err)
        if rec['status'] == 'passed' and note:
            rec['note'] = note
        rec['seconds'] = round(time.time() - start, 1)
        records.append(rec)
        if log:
            with open(log, 'a') as f:
                f.write(json.dumps(rec) + '\n')
    return records


def summary(records: List[dict]) -> str:
    """A markdown table of the families: groups and configs, by outcome."""
    rows: Dict[str, Dict[str, List[int]]] = OrderedDict()
    for rec in records:
        counts = rows.setdefault(rec['family'], {})
        pair = counts.setdefault(rec['status'], [0, 0])
        pair[0] += 1
        pair[1] += len(rec['configs'])
    lines = [
        '| family | passed: groups (configs) | not on this machine: '
        'groups (configs) | failed |', '| --- | --- | --- | --- |'
    ]
    total = {}
    for family, counts in sorted(rows.items()):
        cells = []
        for status in ('passed', 'skipped', 'failed'):
            g, c = counts.get(status, [0, 0])
            t = total.setdefault(status, [0, 0])
            t[0] += g
            t[1] += c
            cells.append(f'{g} ({c})' if g else '-')
        lines.append(f'| {family} | ' + ' | '.join(cells) + ' |')
    cells = [
        f'{total.get(s, [0, 0])[0]} ({total.get(s, [0, 0])[1]})'
        for s in ('passed', 'skipped', 'failed')
    ]
    lines.append('| **all** | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
