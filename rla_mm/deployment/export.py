"""ONNX export of rla_mm's classifiers and detectors through ``torch.onnx``.

What is exported (the *tensor forward*):

* a classifier (MMPretrain ``ImageClassifier``): ``model(x, mode='tensor')``,
  the logits before softmax, one graph ``model.onnx``;
* a detector (MMDetection): backbone + neck + dense head, the head's raw
  outputs (per FPN level, class scores and box deltas) in ``model.onnx``; for
  two-stage detectors that graph also returns the FPN features, and the RoI
  heads' layers go in ``roi_bbox_head.onnx``
  (and ``roi_mask_head.onnx`` for Mask R-CNN), taking pooled RoI features.

What is not exported: the post-processing (anchor decoding, NMS, RoIAlign, mask
pasting). :mod:`rla_mm.deployment.runtime` runs it with MMDetection's own code
(the heads' ``predict_by_feat``, the RoI head's ``predict``) on ONNX Runtime's
outputs.

All graphs take the input height and width as dynamic dimensions: RLA networks
run at any input size, and one exported file runs at every size.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

#: The height and width of the example input (any size works at run time).
TRACE_SHAPE = (224, 224)


def load_model(
        config,
        checkpoint: Optional[str] = None,
        cfg_options: Optional[dict] = None) -> Tuple[nn.Module, object, str]:
    """Build the model of ``config`` in eval mode on the CPU, load
    ``checkpoint``.

    Args:
        config (str | mmengine.Config): A config file or a loaded config.
        checkpoint (str, optional): A checkpoint of the model (an MMEngine
            checkpoint or a plain state dict). Without it the weights stay as
            initialised (an ImageNet ``Pretrained`` backbone init is dropped).
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        tuple: (model, config, kind) with kind ``'classifier'`` or
            ``'detector'``.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import rla_mm  # noqa: F401  (registers the backbones)
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', 'mmdet')
    if scope not in ('mmdet', 'mmpretrain'):
        raise ValueError(f"config's default_scope is {scope!r}, expected "
                         "'mmdet' (detectors) or 'mmpretrain' (classifiers)")
    init_default_scope(scope)
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    else:
        from mmdet.registry import MODELS
    backbone = cfg.model.get('backbone', {})
    init_cfg = backbone.get('init_cfg')
    if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
        backbone.pop(
            'init_cfg')  # the checkpoint (or nothing) gives the weights
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'checkpoint {checkpoint!r} does not exist')
        load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='silent')
    else:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # init_weights logs every parameter
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    model.eval()
    if scope == 'mmdet':
        check_detector(model)
        model.cfg = cfg  # the test pipeline is read from here
    return model, cfg, 'classifier' if scope == 'mmpretrain' else 'detector'


def check_detector(model: nn.Module) -> None:
    """Raise if ``model`` is not a detector this route exports.

    The route covers single-stage detectors with a dense head (``bbox_head``,
    RetinaNet) and two-stage detectors with an RPN and a standard RoI head
    (Faster / Mask R-CNN).
    """
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector
    if isinstance(model, TwoStageDetector):
        from mmdet.models.roi_heads import StandardRoIHead
        if not isinstance(model.roi_head, StandardRoIHead):
            raise TypeError(
                f'{type(model.roi_head).__name__} is not supported: the '
                'two-stage route exports a StandardRoIHead (Faster / Mask '
                'R-CNN)')
    elif not isinstance(model, SingleStageDetector):
        raise TypeError(f'{type(model).__name__} is not supported: expected a '
                        'SingleStageDetector or a TwoStageDetector')


def is_two_stage(model: nn.Module) -> bool:
    """Whether ``model`` is a two-stage detector (an RPN and a RoI head)."""
    from mmdet.models.detectors import TwoStageDetector
    return isinstance(model, TwoStageDetector)


class ClassifierForward(nn.Module):
    """A classifier's logits: ``model(x, mode='tensor')``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image, mode='tensor')


class DetectorForward(nn.Module):
    """Backbone + neck + dense head of a detector, as a flat tuple of tensors.

    Outputs: ``feat0..featL-1`` (two-stage only: the neck's levels, which the
    RoI head reads), then ``cls_score0..`` and ``bbox_pred0..``, one per level.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.two_stage = is_two_stage(model)
        self.head = model.rpn_head if self.two_stage else model.bbox_head

    def forward(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.model.extract_feat(image)
        cls_scores, bbox_preds = self.head(feats)[:2]
        kept = tuple(feats) if self.two_stage else ()
        return kept + tuple(cls_scores) + tuple(bbox_preds)


def detector_output_names(model: nn.Module, num_levels: int) -> List[str]:
    """Output names of :class:`DetectorForward` for ``num_levels`` levels."""
    names = [f'feat{i}'
             for i in range(num_levels)] if is_two_stage(model) else []
    names += [f'cls_score{i}' for i in range(num_levels)]
    names += [f'bbox_pred{i}' for i in range(num_levels)]
    return names


def dynamo_available() -> bool:
    """Whether ``torch.onnx.export`` has the ``torch.export``-based exporter
    (``dynamo=True``, torch >= 2.5)."""
    import inspect
    return 'dynamo' in inspect.signature(torch.onnx.export).parameters


def export_graph(module: nn.Module,
                 args: Tuple[torch.Tensor, ...],
                 path: str,
                 input_names: Sequence[str],
                 output_names: Sequence[str],
                 dynamic_axes: Dict[str, Dict[int, str]],
                 opset: Optional[int] = None) -> str:
    """Export ``module`` to ``path`` with dynamic dimensions; returns the
    exporter.

    With torch >= 2.5, ``torch.onnx.export(dynamo=True)``: ``torch.export``
    traces with symbolic sizes, so the dimensions named in ``dynamic_axes``
    (for the inputs) stay symbolic and the output sizes become expressions of
    them; the sizes of the example inputs must not be 0 or 1 on those
    dimensions. Older torch: the TorchScript exporter with ``dynamic_axes``.

    Args:
        module (nn.Module): What to export; it is put in eval mode.
        args (tuple[Tensor]): Example inputs, one per name in ``input_names``.
        path (str): The ``.onnx`` file to write.
        input_names, output_names (Sequence[str]): Graph input and output
            names.
        dynamic_axes (dict): ``{input name: {axis: dim name}}``.
        opset (int, optional): ONNX opset (default: the exporter's own).
    """
    import warnings
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer and exporter chatter
        if dynamo_available():
            from torch.export import Dim
            dims: Dict[str, object] = {}
            shapes = tuple({
                axis: dims.setdefault(name, Dim(name, min=2))
                for axis, name in dynamic_axes.get(n, {}).items()
            } for n in input_names)
            torch.onnx.export(
                module,
                args,
                path,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=shapes,
                opset_version=opset,
                dynamo=True,
                external_data=False,
                verbose=False)
            exporter = 'dynamo'
        else:
            torch.onnx.export(
                module,
                args,
                path,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=opset or 17)
            exporter = 'torchscript'
    return exporter


def describe_onnx(path: str) -> Dict[str, object]:
    """Inputs, outputs (name, element type, shape with symbolic dims) and
    opset."""
    import onnx
    model = onnx.load(path, load_external_data=False)

    def values(infos):
        out = []
        for v in infos:
            t = v.type.tensor_type
            dims = [
                d.dim_param if d.dim_param else d.dim_value
                for d in t.shape.dim
            ]
            out.append(
                dict(
                    name=v.name,
                    dtype=onnx.TensorProto.DataType.Name(t.elem_type),
                    shape=dims))
        return out

    opset = max(
        o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    return dict(
        file=osp.basename(path),
        opset=opset,
        inputs=values(model.graph.input),
        outputs=values(model.graph.output),
        bytes=osp.getsize(path))


def _roi_graphs(
        model: nn.Module
) -> List[Tuple[str, nn.Module, torch.Tensor, List[str]]]:
    """(file name, module, example input, output names) of the RoI heads."""
    roi_head = model.roi_head
    graphs = []
    extractor = roi_head.bbox_roi_extractor
    size = extractor.roi_layers[0].output_size
    size = size if isinstance(size, tuple) else (size, size)
    x = torch.randn(3, extractor.out_channels, *size)
    graphs.append(('roi_bbox_head.onnx', roi_head.bbox_head, x,
                   ['cls_score', 'bbox_pred']))
    if roi_head.with_mask:
        extractor = roi_head.mask_roi_extractor
        if not roi_head.share_roi_extractor:
            size = extractor.roi_layers[0].output_size
            size = size if isinstance(size, tuple) else (size, size)
        x = torch.randn(3, extractor.out_channels, *size)
        graphs.append(
            ('roi_mask_head.onnx', roi_head.mask_head, x, ['mask_pred']))
    return graphs


def export_model(model: nn.Module,
                 kind: str,
                 out_dir: str,
                 shape: Sequence[int] = TRACE_SHAPE,
                 opset: Optional[int] = None) -> Dict[str, object]:
    """Export a loaded model (see :func:`load_model`) into ``out_dir``.

    Args:
        model (nn.Module): The classifier or detector, in eval mode.
        kind (str): ``'classifier'`` or ``'detector'``.
        out_dir (str): Folder for the ``.onnx`` files.
        shape (Sequence[int]): Height and width of the example input (batch 2);
            the graphs take any batch, height and width.
        opset (int, optional): ONNX opset (default: the exporter's own).

    Returns:
        dict: The export report: route, graphs
            (inputs, outputs, opset of each).
    """
    if kind not in ('classifier', 'detector'):
        raise ValueError(
            f"kind must be 'classifier' or 'detector', got {kind!r}")
    if len(shape) != 2 or any(int(s) < 32 for s in shape):
        raise ValueError(
            f'shape must be (H, W) with both >= 32, got {tuple(shape)}')
    model.eval()
    x = torch.randn(2, 3, *shape)
    image_axes = {'image': {0: 'batch', 2: 'height', 3: 'width'}}
    graphs = []
    path = osp.join(out_dir, 'model.onnx')
    if kind == 'classifier':
        exporter = export_graph(
            ClassifierForward(model), (x, ), path, ['image'], ['logits'],
            dict(image_axes, logits={0: 'batch'}), opset)
        graphs.append(path)
        route = 'the classifier\'s logits, model(x, mode="tensor")'
    else:
        wrapper = DetectorForward(model)
        with torch.no_grad():
            num_levels = len(model.extract_feat(x))
        names = detector_output_names(model, num_levels)
        axes = dict(image_axes)
        axes.update({
            n: {
                0: 'batch',
                2: f'{n}_height',
                3: f'{n}_width'
            }
            for n in names
        })
        exporter = export_graph(wrapper, (x, ), path, ['image'], names, axes,
                                opset)
        graphs.append(path)
        head = 'rpn_head' if wrapper.two_stage else 'bbox_head'
        route = (f'backbone + neck + {head} raw outputs; post-processing by '
                 f'MMDetection ({head}.predict_by_feat')
        if wrapper.two_stage:
            for name, module, roi_x, outs in _roi_graphs(model):
                path = osp.join(out_dir, name)
                export_graph(
                    module, (roi_x, ), path, ['roi_feats'], outs,
                    dict(
                        roi_feats={0: 'num_rois'},
                        **{o: {
                            0: 'num_rois'
                        }
                           for o in outs}), opset)
                graphs.append(path)
            route += (
                ', then roi_head.predict: RoIAlign in mmcv, the RoI heads\' '
                'layers in ONNX Runtime')
        route += ')'
    model.eval()
    return dict(
        kind=kind,
        exporter=f'torch {torch.__version__} torch.onnx '
        f'({exporter})',
        route=route,
        trace_shape=list(shape),
        graphs=[describe_onnx(p) for p in graphs])


def format_report(report: Dict[str, object]) -> str:
    """The export report as short Markdown."""
    lines = [
        f'# ONNX export ({report["kind"]})', '',
        f'Exporter: {report["exporter"]}.', f'Route: {report["route"]}.',
        f'Traced at {report["trace_shape"][0]}x{report["trace_shape"][1]}; '
        'batch, height and width are dynamic.', ''
    ]
    for g in report['graphs']:
        lines += [
            f'## {g["file"]} (opset {g["opset"]}, '
            f'{g["bytes"] / 2**20:.1f} MiB)', '', '| | name | type | shape |',
            '|---|---|---|---|'
        ]
        for what in ('inputs', 'outputs'):
            for v in g[what]:
                shape = ' x '.join(str(d) for d in v['shape'])
                lines.append(
                    f'| {what[:-1]} | {v["name"]} | {v["dtype"]} | {shape} |')
        lines.append('')
    if report.get('preprocess'):
        p = report['preprocess']
        lines += [
            '## Pre-processing the graphs expect', '',
            f'- test pipeline: {p["resize"]}',
            f'- channel order: {p["channel_order"]}', f'- mean: {p["mean"]}',
            f'- std: {p["std"]}', f'- padding: {p["padding"]}', ''
        ]
    if report.get('verify'):
        lines += ['## Check against PyTorch', '']
        lines += [f'- {k}: {v}' for k, v in report['verify'].items()]
        lines.append('')
    return '\n'.join(lines)
