"""The key-mapping engine that every converter of rla_mm shares.

A converter describes a source format by rules: ``(pattern, target)`` pairs of
regular expressions, tried in order on each source key. ``{s}`` in a target is
the first group plus one (the authors number stages from 0, rla_mm's ``layer1``
... ``layer4`` from 1). :func:`map_weights` moves each source tensor to the
keys its rules name and collects everything that does not fit;
:func:`raise_on_problems` turns the lists into one :class:`ConversionError`
that names every key.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

# the entries of a BatchNorm layer in a state dict
BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
# state-dict entries that are buffers of a BatchNorm, not parameters
BN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')

Rules = List[Tuple[str, str]]


class ConversionError(ValueError):
    """The checkpoint does not fit the architecture it claims."""


def apply_rules(key: str, rules: Rules) -> Optional[str]:
    """The target of ``key`` under the first rule whose pattern matches it
    whole, or None when none does.

    Args:
        key (str): A source key.
        rules (list[tuple[str, str]]): ``(pattern, target)`` pairs.
    """
    for pattern, target in rules:
        match = re.fullmatch(pattern, key)
        if match:
            if '{s}' in target:
                target = target.replace('{s}', str(int(match.group(1)) + 1))
            return match.expand(target)
    return None


def map_weights(state_dict: Dict[str, Tensor],
                expected: Dict[str, torch.Size],
                targets_of: Callable[[str], List[str]],
                unread: Sequence[str] = ()):
    """Move each source weight to the target keys ``targets_of(key)`` names.

    Args:
        state_dict (dict): The source weights.
        expected (dict): The target model's keys and shapes.
        targets_of (callable): Source key -> target keys (empty: no rule).
        unread (sequence[str]): Target keys the model does not build because
            nothing reads them; a source mapped only onto them is dropped.

    Returns:
        tuple: the converted weights, the unmapped source keys, the missing
        target keys, the shape mismatches and the dropped source keys.
    """
    converted = OrderedDict()
    unmapped, mismatched, dropped = [], [], []
    for key, value in state_dict.items():
        targets = targets_of(key)
        if targets and all(t in unread for t in targets):
            dropped.append(key)
            continue
        if not targets or any(t not in expected for t in targets):
            unmapped.append(key)
            continue
        for target in targets:
            if tuple(value.shape) != tuple(expected[target]):
                mismatched.append(f'{key} {tuple(value.shape)} -> {target} '
                                  f'{tuple(expected[target])}')
            converted[target] = value
    missing = sorted(set(expected) - set(converted))
    return converted, unmapped, missing, mismatched, dropped


def shared_conflicts(model: torch.nn.Module,
                     converted: Dict[str, Tensor],
                     prefix: str = '') -> List[str]:
    """Targets that are one tensor in ``model`` but get different values.

    RLAMobileNetV2 shares one recurrent conv among its stages, as the authors'
    code does (``recurrent_dsconvs.{0..4}`` is one module five times): loading
    different values into it would silently keep the last one.

    Args:
        model (nn.Module): The model the converted keys are for.
        converted (dict): Converted weights, keys ``prefix`` + the model's
            keys.
        prefix (str): Prefix of the converted keys. Default: ''.
    """
    first, conflicts = {}, []
    for key, tensor in model.state_dict(keep_vars=True).items():
        if tensor.numel() == 0 or prefix + key not in converted:
            continue
        owner = first.setdefault(tensor.data_ptr(), prefix + key)
        if owner != prefix + key and not torch.equal(converted[owner],
                                                     converted[prefix + key]):
            conflicts.append(
                f'{prefix + key} differs from {owner}, one shared '
                'tensor in the model')
    return conflicts


def raise_on_problems(title: str, unmapped: List[str], missing: List[str],
                      mismatched: List[str]) -> None:
    """Raise one :class:`ConversionError` listing every problem, if any.

    Args:
        title (str): What did not match, the first line of the message.
        unmapped (list[str]): Source keys that no rule maps to the target.
        missing (list[str]): Target keys that no source key provides.
        mismatched (list[str]): Shape (or shared-value) mismatches.
    """
    if not (unmapped or missing or mismatched):
        return
    lines = [f'{title}:']
    for name, keys in (('unmapped source keys', unmapped),
                       ('missing target keys', missing), ('shape mismatches',
                                                          mismatched)):
        if keys:
            lines.append(f'  {name} ({len(keys)}): ' + ', '.join(keys[:20]) +
                         (' ...' if len(keys) > 20 else ''))
    raise ConversionError('\n'.join(lines))


def strip_wrapper(checkpoint) -> Tuple[Dict[str, Tensor], str]:
    """Return the bare state dict (no ``module.`` prefix) and the arch name, if
    any.

    Args:
        checkpoint (dict): A loaded reference checkpoint or a bare state dict.
    """
    if not isinstance(checkpoint, dict):
        raise ConversionError(
            f'expected a dict checkpoint, got {type(checkpoint).__name__}')
    arch = checkpoint.get('arch', '') if 'state_dict' in checkpoint else ''
    state_dict = checkpoint.get('state_dict', checkpoint)
    out = OrderedDict()
    for key, value in state_dict.items():
        out[key[len('module.'):] if key.startswith('module.') else key] = value
    return out, arch


def parameter_count(state_dict: Dict[str, Tensor]) -> int:
    """Parameters in ``state_dict`` (BatchNorm buffers left out); a tensor
    stored under several keys (RLA-MobileNetV2's shared recurrent conv) counts
    once.

    Args:
        state_dict (dict): Weights.
    """
    params = {
        id(v): v.numel()
        for k, v in state_dict.items() if not k.endswith(BN_BUFFERS)
    }
    return sum(params.values())
