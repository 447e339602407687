"""Look inside the RLA recurrence: the hidden state after every block.

An RLA backbone returns only its main-path features. The hidden state h and the
parts of each update (paper Eq. 11, ``h_t = R(tanh(BN_t(h_{t-1} + O(y_t))))``)
stay inside the :class:`~rla_mm.models.layers.RLAStage` modules. The context
managers here read them through forward hooks on the stage's own submodules, so
the model code is not touched:

* :func:`record_hidden` records, for every update t of every RLA stage, the new
  features entering the recurrence ``O(y_t)`` (the output of ``conv_out``), the
  state the recurrence carries ``h_{t-1}`` (resampled to the block's
  resolution, as the stage does) and the new state ``h_t``;
* :func:`knock_out` replaces ``O(y_t)`` of one update by zeros, to measure how
  much one block's features still move a later hidden state.

Outside the ``with`` block no hook is left and the model computes exactly what
it computed before; inside :func:`record_hidden` it computes the same outputs
too.

Example:
    >>> import torch
    >>> from rla_mm.models import RLAResNet
    >>> from rla_mm.visualization import record_hidden
    >>> backbone = RLAResNet(depth=18, rla_channel=8).eval()
    >>> with torch.no_grad(), record_hidden(backbone) as rec:
    ...     outs = backbone(torch.randn(1, 3, 64, 64))
    >>> [(r.stage, r.block, tuple(r.h.shape)) for r in rec.updates][:2]
    [('layer1', 0, (1, 8, 16, 16)), ('layer1', 1, (1, 8, 16, 16))]

All variants of the update are read (``rla_add``, ``rla_act``, ``rla_cell``
'conv'/'lstm'/'gru', ``rla_shared``, ``rla_exchange``, a recurrent conv shared
between stages). A stage built with ``update_last=False`` (detectors) has no
update after its last block, so its last block has no record. With activation
checkpointing (``with_cp``) the blocks run again during the backward pass;
those re-runs are not recorded.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ..models.layers.rla_stage import RLAStage, hidden_of, match_hidden


@dataclass
class UpdateRecord:
    """The parts of one RLA update, after block ``block`` of stage ``stage``.

    Attributes:
        stage (str): Name of the stage module in the recorded model
            (``layer1``).
        block (int): Index of the block within the stage.
        o (Tensor): ``O(s_t)``, the output of ``conv_out``: what the block
            adds.
        h_prev (Tensor): ``h_{t-1}`` at the block's resolution: what the
            recurrence carries into the update.
        h (Tensor): ``h_t``, the hidden state after the update.
        c (Tensor, optional): The cell state after the update
            (``rla_cell='lstm'``), else None.
    """
    stage: str
    block: int
    o: Tensor
    h_prev: Tensor
    h: Tensor
    c: Optional[Tensor] = None


class HiddenRecord:
    """What :func:`record_hidden` collected, in order of depth.

    Attributes:
        updates (list[UpdateRecord]): One record per update, stage by stage.
    """

    def __init__(self) -> None:
        self.updates: List[UpdateRecord] = []

    @property
    def stages(self) -> Dict[str, List[UpdateRecord]]:
        """The records grouped by stage name, in order of depth."""
        grouped: Dict[str, List[UpdateRecord]] = {}
        for record in self.updates:
            grouped.setdefault(record.stage, []).append(record)
        return grouped

    def clear(self) -> None:
        """Forget the records (to record another forward pass)."""
        self.updates.clear()


def rla_stages(model: nn.Module) -> List[Tuple[str, RLAStage]]:
    """The RLA stages of ``model`` that update a hidden state, with their
    names.

    Args:
        model (nn.Module): A backbone, a detector or a classifier.

    Raises:
        ValueError: if ``model`` holds no such stage (a plain network, or a
            model that is not an RLA network).
    """
    stages = [(name or type(module).__name__, module)
              for name, module in model.named_modules()
              if isinstance(module, RLAStage) and len(module.norms) > 0]
    if not stages:
        raise ValueError(
            f'{type(model).__name__} has no RLA stage with a hidden-state '
            f'update (a plain network, rla_channel=0, or not an RLA model)')
    return stages


def _as_list(module) -> List[nn.Module]:
    return list(module) if isinstance(module, nn.ModuleList) else [module]


def _clone(value):
    if isinstance(value, tuple):
        return tuple(v.detach().clone() for v in value)
    return value.detach().clone()


class _StageRecorder:
    """Hooks that collect the updates of one stage during its forward."""

    def __init__(self, name: str, stage: RLAStage, record: HiddenRecord):
        self.name, self.stage, self.record = name, stage, record
        self.active = False
        self.events: Dict[str, list] = {}
        self.state_in = None

    def hooks(self) -> List[Tuple[nn.Module, str, object]]:
        stage = self.stage
        hooks = [(stage, 'pre', self.begin), (stage, 'post', self.end)]
        for kind, modules in (('o', stage.conv_out), ('recurrent',
                                                      stage.recurrent_conv),
                              ('norm', stage.norms)):
            for module in _as_list(modules):
                hooks.append((module, 'post', self.collector(kind)))
        return hooks

    def begin(self, module, args, kwargs):
        hidden = args[1] if len(args) > 1 else kwargs.get('hidden')
        state = None if hidden is None else hidden.value
        self.state_in = None if state is None else _clone(state)
        self.events = dict(o=[], recurrent=[], norm=[])
        self.active = True

    def collector(self, kind: str):

        def hook(module, args, output):
            # Only calls made by this stage's forward: a recurrent conv shared
            # with other stages also runs in theirs, and with_cp re-runs
            # blocks in the backward pass.
            if self.active:
                self.events[kind].append(_clone(output))

        return hook

    def end(self, module, args, output):
        self.active = False
        stage, events = self.stage, self.events
        variant = stage.variant
        count = len(stage.norms)
        if any(len(v) != count for v in events.values()):
            raise RuntimeError(
                f'stage {self.name}: expected {count} calls of conv_out, the '
                f'recurrent part and the norms, got '
                f'{ {k: len(v) for k, v in events.items()} }')
        h = hidden_of(self.state_in)
        for index in range(count):
            o = events['o'][index]
            h_prev = torch.zeros_like(o) if h is None else match_hidden(h, o)
            c = None
            if variant.rla_cell == 'lstm':
                h, c = events['recurrent'][index]
            elif variant.rla_cell == 'gru' or variant.rla_act == 'pre':
                h = events['recurrent'][index]
            else:  # post-activation: tanh(BN_t(R(.)))
                h = torch.tanh(events['norm'][index])
            if variant.rla_cell == 'conv' and variant.rla_add == 'after':
                h = h + o
            self.record.updates.append(
                UpdateRecord(self.name, index, o, h_prev, h, c))
        self.events = {}


def _register(hooks) -> list:
    handles = []
    try:
        for module, when, fn in hooks:
            if when == 'pre':
                handles.append(
                    module.register_forward_pre_hook(fn, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(fn))
    except BaseException:
        for handle in handles:
            handle.remove()
        raise
    return handles


@contextmanager
def record_hidden(model: nn.Module) -> Iterator[HiddenRecord]:
    """Record the hidden state after every block of every RLA stage.

    Each forward pass of ``model`` inside the block appends its updates to the
    record (call :meth:`HiddenRecord.clear` between passes). The tensors are
    detached copies. The hooks go when the block ends, even on an error.

    Args:
        model (nn.Module): An RLA backbone or a model that holds one.

    Yields:
        HiddenRecord: The records, filled by the forward passes.

    Raises:
        ValueError: if ``model`` has no RLA stage with a hidden-state update.
    """
    record = HiddenRecord()
    hooks = []
    for name, stage in rla_stages(model):
        hooks += _StageRecorder(name, stage, record).hooks()
    handles = _register(hooks)
    try:
        yield record
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def knock_out(model: nn.Module, stage: str, block: int) -> Iterator[None]:
    """Run ``model`` with ``O(y_t)`` of one update replaced by zeros.

    Inside the block, the update after block ``block`` of stage ``stage`` reads
    zeros instead of the block's features (``h_t = R(tanh(BN_t(h_{t-1})))`` for
    the paper's update): the recurrence carries on, the block adds nothing to
    it. Comparing a later hidden state with and without this measures how much
    that block's features still move it. Everything else runs unchanged.

    Args:
        model (nn.Module): An RLA backbone or a model that holds one.
        stage (str): Name of the stage, as in :attr:`UpdateRecord.stage`.
        block (int): Index of the block whose update reads zeros.

    Raises:
        ValueError: if the stage does not exist or has no update after
            ``block``.
    """
    stages = dict(rla_stages(model))
    if stage not in stages:
        raise ValueError(f'no RLA stage named {stage!r}; the stages are '
                         f'{sorted(stages)}')
    target = stages[stage]
    count = len(target.norms)
    if isinstance(block, bool) or not isinstance(block, int) \
            or not 0 <= block < count:
        raise ValueError(f'stage {stage} has updates after blocks 0 to '
                         f'{count - 1}, got block={block!r}')
    calls = [0]

    def begin(module, args, kwargs):
        calls[0] = 0

    def zero(module, args, output):
        index = calls[0]
        calls[0] += 1
        if index == block:
            return torch.zeros_like(output)
        return None

    if target.variant.rla_shared:
        hooks = [(target, 'pre', begin), (target.conv_out, 'post', zero)]
    else:  # one conv_out per update
        hooks = [(target.conv_out[block], 'post',
                  lambda module, args, output: torch.zeros_like(output))]
    handles = _register(hooks)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
