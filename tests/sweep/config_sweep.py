"""Swap the backbone type of MMDetection's, MMPretrain's and MMSegmentation's
own configs to its RLA twin, and run each model once: a loss, a backward and a
predict on synthetic inputs (MMDetection's own; images and labels made here for
the others).

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
"""
import copy
import glob
import json
import logging
import os.path as osp
import time
import traceback
from collections import OrderedDict
from typing import Dict, List, Optional

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


def resnet_of(model: dict, library: str) -> Optional[dict]:
    """The ResNet-family dict of ``model``'s backbone: the backbone itself, or
    the first one nested in it (MMSegmentation's BiSeNetV1 and ICNet build
    theirs from ``backbone_cfg``); None if there is none."""

    def find(obj):
        if isinstance(obj, dict):
            if obj.get('type') in TWINS[library]:
                return obj
            for value in obj.values():
                found = find(value)
                if found is not None:
                    return found
        elif isinstance(obj, (list, tuple)):
            for value in obj:
                found = find(value)
                if found is not None:
                    return found
        return None

    return find(model.get('backbone'))


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


def _inputs(library: str, side: int, training: bool):
    if library == 'mmdet':
        return _det_inputs(side)
    if library == 'mmseg':
        return _seg_inputs(side, training)
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
        data = model.data_preprocessor(_inputs(library, side, True), True)
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
            data = model.data_preprocessor(_inputs(library, side, False))
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


def _family(entry: dict) -> str:
    """The config folder of a group (its first config's)."""
    return entry['configs'][0].split('/')[0]


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
    if library == 'mmdet':
        from mmdet.utils import register_all_modules
    elif library == 'mmseg':
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    import rla_mm  # noqa: F401
    records = []
    entries = list(groups(library, model_types, selected).values())
    if first_family is not None:
        families = {_family(e) for e in entries}
        if first_family not in families:
            raise ValueError(f'no {library} config folder {first_family!r} '
                             f'with a ResNet-family group; expected one of '
                             f'{sorted(families)}')
        entries = [e for e in entries if _family(e) >= first_family]
    for entry in entries:
        note = None
        resnet = resnet_of(entry['model'], library)
        rec = dict(
            configs=entry['configs'],
            family=_family(entry),
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
