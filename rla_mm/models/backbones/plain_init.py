"""Initialise an RLA-ResNet from a plain ResNet checkpoint.

A config whose backbone type was swapped to an RLA twin keeps its ``init_cfg``
(``torchvision://resnet50``, a Detectron2 caffe ResNet) or its ``load_from`` (a
plain MMDetection detector). Those checkpoints number blocks ``layerN.i.*`` as
the RLA network does, but have no hidden-state input channels, where every
block's first conv reads ``C + k``. :func:`adapt_plain_resnet` rewrites such a
state dict in place, so that

* the main path loads exactly: stem, blocks, shortcuts (the ``stem`` and
  ``downsample`` sequences are matched by the order of their weighted layers,
  as MMDetection, MMPretrain and torchvision number them differently);
* the k extra input channels of each first conv start at zero, so the untrained
  RLA network computes the plain network's features, and its RLA parts train
  from there;
* the RLA parts the checkpoint lacks (``conv_out``, ``recurrent_conv``, the
  per-block ``norms`` of a stage, ``bn_hidden``) are reported as fresh.

The same applies to a checkpoint already in the RLA layout that lacks the RLA
parts (what ``tools/model_converters/resnet_to_rla_mm.py`` writes).
"""
import re
from typing import Dict, List, NamedTuple, Tuple

import torch.nn as nn

from ..layers.rla_stage import upgrade_stage_keys

_BLOCK_KEY = re.compile(r'^layer\d+\.\d+\.')
#: The members of an RLA stage that the RLA update owns.
RLA_STAGE_PARTS = ('conv_out', 'recurrent_conv', 'norms')


class PlainInit(NamedTuple):
    """What :func:`adapt_plain_resnet` did to one state dict.

    Attributes:
        renamed (int): Stem and shortcut tensors renumbered from another
            library's numbering.
        widened (List[str]): First convs given zero hidden-state channels.
        main_path (int): Tensors of the checkpoint that the main path loads.
        fresh_stages (List[str]): Stages whose RLA parts the checkpoint lacks.
        fresh_hidden_norm (bool): ``bn_hidden`` is built but not in the
            checkpoint.
    """
    renamed: int
    widened: List[str]
    main_path: int
    fresh_stages: List[str]
    fresh_hidden_norm: bool

    def message(self, name: str) -> str:
        """The one log line that says what happened."""
        parts = [
            f'{s}.{{{",".join(RLA_STAGE_PARTS)}}}' for s in self.fresh_stages
        ]
        if self.fresh_hidden_norm:
            parts.append('bn_hidden')
        renamed = f'{self.renamed} renumbered (stem, shortcuts), ' \
            if self.renamed else ''
        return (
            f'{name}: {self.main_path} tensors of a plain ResNet checkpoint '
            f'load into the main path ({renamed}{len(self.widened)} first '
            f'convs given zero hidden-state channels, so the network starts '
            f'as the plain ResNet); the RLA parts start fresh: '
            f'{", ".join(parts)}')


def _weighted_children(
        seq: nn.Sequential) -> List[Tuple[str, Dict[str, tuple]]]:
    """(index, {tensor name: shape}) of the children of ``seq`` that hold
    tensors, in order."""
    out = []
    for name, child in seq.named_children():
        shapes = {k: tuple(v.shape) for k, v in child.state_dict().items()}
        if shapes:
            out.append((name, shapes))
    return out


def _match_sequence(state_dict: dict, prefix: str, seq: nn.Sequential) -> int:
    """Rename the keys under ``prefix`` (a sequence in another numbering) to
    the numbering of ``seq``, matching weighted layers in order; return how
    many keys were renamed (0 when the numbering already matches or the
    layers do not correspond)."""
    ours = _weighted_children(seq)
    groups: Dict[str, Dict[str, str]] = {}
    for key in [k for k in state_dict if k.startswith(prefix)]:
        head, _, tail = key[len(prefix):].rpartition('.')
        groups.setdefault(head, {})[tail] = key
    if not groups or sorted(groups) == sorted(name for name, _ in ours):
        return 0

    # a state dict lists a module's tensors in the order of its layers
    theirs = list(groups)
    if len(theirs) != len(ours):
        return 0
    renames = {}
    for head, (name, shapes) in zip(theirs, ours):
        tensors = groups[head]
        if set(tensors) != set(shapes) or any(
                tuple(state_dict[tensors[t]].shape) != shapes[t]
                for t in shapes):
            return 0
        for tail, key in tensors.items():
            renames[key] = f'{prefix}{name}.{tail}'
    moved = {new: state_dict.pop(old) for old, new in renames.items()}
    state_dict.update(moved)
    return len(renames)


def adapt_plain_resnet(model: nn.Module,
                       state_dict: dict,
                       prefix: str = '') -> 'PlainInit | None':
    """Rewrite the plain-ResNet parts of ``state_dict`` for the RLA ``model``.

    Block keys of rla_mm 0.1 (``layerN.blocks.i``) are renamed first.

    Args:
        model (RLAResNet): The backbone that loads the state dict.
        state_dict (dict): Tensors by key; changed in place.
        prefix (str): The model's prefix inside ``state_dict``.

    Returns:
        PlainInit | None: What was done, or None when the checkpoint holds
        the RLA parts of every stage it loads (an RLA checkpoint) or nothing
        of the main path.
    """
    stages = {name: getattr(model, name) for name in model.stage_names}
    for stage_name in stages:
        upgrade_stage_keys(state_dict, f'{prefix}{stage_name}.')
    renamed = 0
    if isinstance(getattr(model, 'stem', None), nn.Sequential):
        renamed += _match_sequence(state_dict, f'{prefix}stem.', model.stem)
    widened = []
    for stage_name, stage in stages.items():
        for b, block in enumerate(stage):
            base = f'{prefix}{stage_name}.{b}.'
            if isinstance(block.downsample, nn.Sequential):
                renamed += _match_sequence(state_dict, base + 'downsample.',
                                           block.downsample)
            key = base + 'conv1.weight'
            ours = block.conv1.weight
            theirs = state_dict.get(key)
            if theirs is not None and theirs.dim() == ours.dim() \
                    and theirs.shape[1] < ours.shape[1] \
                    and theirs.shape[0] == ours.shape[0] \
                    and theirs.shape[2:] == ours.shape[2:]:
                wide = theirs.new_zeros(ours.shape)
                wide[:, :theirs.shape[1]] = theirs
                state_dict[key] = wide
                widened.append(f'{stage_name}.{b}.conv1')
    fresh_stages = []
    for stage_name, stage in stages.items():
        loaded = any(
            k.startswith(f'{prefix}{stage_name}.0.') for k in state_dict)
        has_parts = any(
            k.startswith(f'{prefix}{stage_name}.{part}.') for k in state_dict
            for part in RLA_STAGE_PARTS)
        built_parts = any(
            getattr(stage, part) is not None and any(
                True for _ in getattr(stage, part).parameters())
            for part in RLA_STAGE_PARTS)
        if loaded and built_parts and not has_parts:
            fresh_stages.append(stage_name)
    own = model.state_dict()
    main_path = sum(1 for k, v in state_dict.items()
                    if k.startswith(prefix) and k[len(prefix):] in own
                    and tuple(v.shape) == tuple(own[k[len(prefix):]].shape))
    if not main_path or not (widened or fresh_stages):
        return None
    hidden = getattr(model, 'hidden_norm_name', None)
    fresh_hidden = hidden is not None and not any(
        k.startswith(f'{prefix}{hidden}.') for k in state_dict)
    return PlainInit(renamed, widened, main_path, fresh_stages, fresh_hidden)


def rla_state_from_plain(model: nn.Module,
                         state_dict: dict,
                         prefix: str = '') -> dict:
    """The main-path tensors of a plain ResNet state dict in ``model``'s
    RLA layout (first convs widened with zero hidden-state channels), without
    the RLA parts, which then start fresh wherever the result is loaded.

    Args:
        model (RLAResNet): The RLA backbone the tensors are for.
        state_dict (dict): A plain ResNet's tensors (torchvision, MMDetection
            or MMPretrain names), under ``prefix``.
        prefix (str): The backbone's prefix in ``state_dict`` (e.g.
            'backbone.' in a detector or classifier checkpoint).

    Raises:
        ValueError: when the checkpoint holds no tensor of the main path, or
            a tensor whose shape ``model`` does not have (another depth or
            width), naming it.
    """
    local = {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }
    adapt_plain_resnet(model, local)
    own = model.state_dict()
    out, bad = {}, []
    for key, value in local.items():
        if key not in own:
            continue
        if tuple(value.shape) != tuple(own[key].shape):
            bad.append(f'{key}: {tuple(value.shape)} (the model has '
                       f'{tuple(own[key].shape)})')
        else:
            out[key] = value
    if bad:
        raise ValueError('the plain checkpoint does not fit the RLA backbone '
                         '(another depth or width?): ' + '; '.join(bad[:5]))
    if not any(_BLOCK_KEY.match(k) for k in out):
        raise ValueError(
            f'no tensor of a ResNet main path under prefix {prefix!r}; the '
            f'checkpoint has keys like {list(state_dict)[:3]!r}')
    return out
