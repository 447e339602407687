"""Run exported graphs with ONNX Runtime and check them against PyTorch.

:class:`OrtDetector` runs the graphs of :func:`rla_mm.deployment.export_model`
and MMDetection's own post-processing on their outputs: the dense head's
``predict_by_feat`` (anchors, box decoding, NMS), and for two-stage detectors
the RoI head's ``predict`` (RoIAlign in mmcv, the RoI heads' layers in ONNX
Runtime, then their ``predict_by_feat``). The detections it returns are
MMDetection's ``DetDataSample`` objects, so they compare one to one with
``model.predict``.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

#: Default tolerances of :func:`compare_detections`: box corners in pixels,
#: scores.
BOX_ATOL = 0.05
SCORE_ATOL = 1e-3
MASK_IOU_MIN = 0.99
LOGITS_ATOL = 1e-4
#: Logits beyond 100 in magnitude: float32 rounding, relative to the largest
#: one.
LOGITS_RTOL = 1e-6


class OrtGraph:
    """One ONNX graph in an ONNX Runtime session (CPU provider by default).

    Args:
        path (str): The ``.onnx`` file.
        level (str): Graph optimisation level: 'disable', 'basic', 'extended'
            or 'all' (ONNX Runtime's default is 'all').
        threads (int, optional): Intra-op threads (default: ONNX Runtime's).
        providers (Sequence[str]): Execution providers.
    """

    LEVELS = ('disable', 'basic', 'extended', 'all')

    def __init__(self,
                 path: str,
                 level: str = 'all',
                 threads: Optional[int] = None,
                 providers: Sequence[str] = ('CPUExecutionProvider', )):
        import onnxruntime as ort
        if level not in self.LEVELS:
            raise ValueError(
                f'level must be one of {self.LEVELS}, got {level!r}')
        if not osp.isfile(path):
            raise FileNotFoundError(f'ONNX file {path!r} does not exist')
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, {
                'disable': 'ORT_DISABLE_ALL',
                'basic': 'ORT_ENABLE_BASIC',
                'extended': 'ORT_ENABLE_EXTENDED',
                'all': 'ORT_ENABLE_ALL'
            }[level])
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            path, options, providers=list(providers))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run_numpy(self, *arrays: np.ndarray) -> List[np.ndarray]:
        """Run on numpy arrays, one per graph input, in order."""
        if len(arrays) != len(self.input_names):
            raise ValueError(f'the graph takes {len(self.input_names)} inputs '
                             f'{self.input_names}, got {len(arrays)}')
        feeds = {
            n: np.ascontiguousarray(a, dtype=np.float32)
            for n, a in zip(self.input_names, arrays)
        }
        return self.session.run(None, feeds)

    def __call__(self, *tensors: torch.Tensor) -> List[torch.Tensor]:
        """Run on CPU tensors; return the outputs as tensors."""
        outs = self.run_numpy(*(t.detach().cpu().numpy() for t in tensors))
        return [torch.from_numpy(o) for o in outs]


class _OrtForward:
    """Stands for a head's forward: runs the head's ONNX graph instead."""

    def __init__(self, graph: OrtGraph):
        self.graph = graph
        self.calls = 0

    def __call__(self, x: torch.Tensor):
        self.calls += 1
        outs = self.graph(x)
        return outs[0] if len(outs) == 1 else tuple(outs)


class OrtClassifier:
    """The exported classifier: ``logits = OrtClassifier(dir)(images)``."""

    def __init__(self,
                 model_dir: str,
                 level: str = 'all',
                 threads: Optional[int] = None):
        self.graph = OrtGraph(
            osp.join(model_dir, 'model.onnx'), level, threads)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.graph(images)[0]


class OrtDetector:
    """The exported detector with MMDetection's post-processing.

    Args:
        model (nn.Module): The PyTorch detector the graphs were exported from;
            only its post-processing (anchor generators, box coders, test_cfg,
            RoIAlign) is used, and it is not modified.
        model_dir (str): The folder :func:`export_model` wrote.
        level (str): ONNX Runtime graph optimisation level
            (see :class:`OrtGraph`).
        threads (int, optional): ONNX Runtime intra-op threads.
    """

    def __init__(self,
                 model: nn.Module,
                 model_dir: str,
                 level: str = 'all',
                 threads: Optional[int] = None):
        from .export import check_detector, is_two_stage
        check_detector(model)
        self.model = model
        self.two_stage = is_two_stage(model)
        self.graph = OrtGraph(
            osp.join(model_dir, 'model.onnx'), level, threads)
        self.roi_head = None
        if self.two_stage:
            # a copy whose layers run in ONNX Runtime; the model keeps its own
            roi_head = copy.copy(model.roi_head)
            roi_head._modules = dict(roi_head._modules)
            roi_head.bbox_head = self._ort_head(
                model.roi_head.bbox_head,
                OrtGraph(
                    osp.join(model_dir, 'roi_bbox_head.onnx'), level, threads))
            if model.roi_head.with_mask:
                roi_head.mask_head = self._ort_head(
                    model.roi_head.mask_head,
                    OrtGraph(
                        osp.join(model_dir, 'roi_mask_head.onnx'), level,
                        threads))
            self.roi_head = roi_head

    @staticmethod
    def _ort_head(head: nn.Module, graph: OrtGraph) -> nn.Module:
        """A shallow copy of ``head`` whose forward runs ``graph``; its
        ``predict_by_feat`` and settings are the head's own."""
        ort_head = copy.copy(head)
        ort_head._modules = dict(head._modules)
        # in the instance's __dict__, where nn.Module.__call__ finds it first
        object.__setattr__(ort_head, 'forward', _OrtForward(graph))
        return ort_head

    def raw_outputs(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """The graph's outputs for a batch of pre-processed images."""
        return self.graph(inputs)

    def predict(self,
                inputs: torch.Tensor,
                data_samples: list,
                rescale: bool = True) -> list:
        """Detections for pre-processed ``inputs`` (N, 3, H, W), as
        ``model.predict`` gives them (``pred_instances`` of each data
        sample)."""
        outs = self.raw_outputs(inputs)
        metas = [s.metainfo for s in data_samples]
        if self.two_stage:
            levels = len(outs) // 3
            feats = tuple(outs[:levels])
            cls_scores = outs[levels:2 * levels]
            bbox_preds = outs[2 * levels:]
            with torch.no_grad():
                proposals = self.model.rpn_head.predict_by_feat(
                    cls_scores,
                    bbox_preds,
                    batch_img_metas=metas,
                    rescale=False)
                results = self.roi_head.predict(
                    feats, proposals, data_samples, rescale=rescale)
        else:
            levels = len(outs) // 2
            with torch.no_grad():
                results = self.model.bbox_head.predict_by_feat(
                    outs[:levels],
                    outs[levels:],
                    batch_img_metas=metas,
                    rescale=rescale)
        return self.model.add_pred_to_datasample(data_samples, results)


def _box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix of boxes (x1, y1, x2, y2): a (N, 4) against b (M, 4)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] -
                                                 a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] -
                                                 b[:, 1]).clamp(min=0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter).clamp(min=1e-12)


def compare_detections(ref, got, score_thr: float = 0.05) -> Dict[str, float]:
    """Match two detectors' instances one to one above ``score_thr``.

    Each reference detection (highest score first) is matched to the unmatched
    detection of the same label whose box overlaps it most. Returns the counts
    and the largest differences of the matched pairs: ``box_max_abs`` (pixels),
    ``score_max_abs``, ``box_iou_min`` and, with masks, ``mask_iou_min``.

    Args:
        ref (InstanceData): PyTorch's ``pred_instances``.
        got (InstanceData): ONNX Runtime's ``pred_instances``.
        score_thr (float): Detections scoring below it are left out of both.
    """
    keep_r = ref.scores >= score_thr
    keep_g = got.scores >= score_thr
    rb, rs, rl = ref.bboxes[keep_r], ref.scores[keep_r], ref.labels[keep_r]
    gb, gs, gl = got.bboxes[keep_g], got.scores[keep_g], got.labels[keep_g]
    masks = 'masks' in ref and 'masks' in got
    if masks:
        rm, gm = ref.masks[keep_r].bool(), got.masks[keep_g].bool()
    stats = dict(
        num_ref=int(keep_r.sum()),
        num_got=int(keep_g.sum()),
        matched=0,
        box_max_abs=0.0,
        score_max_abs=0.0,
        box_iou_min=1.0)
    if masks:
        stats['mask_iou_min'] = 1.0
    if len(rb) == 0 or len(gb) == 0:
        return stats
    iou = _box_iou(rb.float(), gb.float())
    iou[rl[:, None] != gl[None, :]] = -1  # labels must agree
    free = torch.ones(len(gb), dtype=torch.bool)
    for i in torch.argsort(rs, descending=True).tolist():
        cand = torch.where(free, iou[i], torch.full_like(iou[i], -1))
        j = int(cand.argmax())
        if cand[j] <= 0:
            continue
        free[j] = False
        stats['matched'] += 1
        stats['box_max_abs'] = max(stats['box_max_abs'],
                                   float((rb[i] - gb[j]).abs().max()))
        stats['score_max_abs'] = max(stats['score_max_abs'],
                                     float((rs[i] - gs[j]).abs()))
        stats['box_iou_min'] = min(stats['box_iou_min'], float(iou[i, j]))
        if masks:
            inter = (rm[i] & gm[j]).sum().item()
            union = (rm[i] | gm[j]).sum().item()
            stats['mask_iou_min'] = min(stats['mask_iou_min'],
                                        inter / union if union else 1.0)
    return stats


def detections_agree(stats: Dict[str, float],
                     box_atol: float = BOX_ATOL,
                     score_atol: float = SCORE_ATOL,
                     mask_iou_min: float = MASK_IOU_MIN) -> List[str]:
    """The ways ``compare_detections``' ``stats`` break the tolerances (empty
    when they agree): same count, every detection matched, boxes within
    ``box_atol`` pixels, scores within ``score_atol``, masks IoU
    >= ``mask_iou_min``."""
    problems = []
    if stats['num_ref'] != stats['num_got']:
        problems.append(f'{stats["num_got"]} detections from ONNX Runtime, '
                        f'{stats["num_ref"]} from PyTorch')
    if stats['matched'] != stats['num_ref']:
        problems.append(
            f'only {stats["matched"]} of {stats["num_ref"]} matched')
    if stats['box_max_abs'] > box_atol:
        problems.append(f'box corners differ by {stats["box_max_abs"]:.3g} px '
                        f'> {box_atol}')
    if stats['score_max_abs'] > score_atol:
        problems.append(f'scores differ by {stats["score_max_abs"]:.3g} '
                        f'> {score_atol}')
    if stats.get('mask_iou_min', 1.0) < mask_iou_min:
        problems.append(
            f'mask IoU {stats["mask_iou_min"]:.4f} < {mask_iou_min}')
    return problems


def verify_classifier(model: nn.Module, model_dir: str,
                      inputs: torch.Tensor) -> Dict[str, float]:
    """Logits of PyTorch and ONNX Runtime on ``inputs``: their largest
    difference."""
    with torch.no_grad():
        ref = model(inputs, mode='tensor')
    got = OrtClassifier(model_dir)(inputs)
    if got.shape != ref.shape:
        raise AssertionError(f'ONNX Runtime logits {tuple(got.shape)} against '
                             f'PyTorch {tuple(ref.shape)}')
    return dict(
        logits_max_abs=float((got - ref).abs().max()),
        logits_max=float(ref.abs().max()),
        top1_agree=bool((got.argmax(1) == ref.argmax(1)).all()),
        shape='x'.join(map(str, ref.shape)))


def verify_detector(model: nn.Module,
                    model_dir: str,
                    inputs: torch.Tensor,
                    data_samples: list,
                    score_thr: Optional[float] = None,
                    detector: Optional[OrtDetector] = None) -> List[Dict]:
    """Detections of PyTorch and of the ONNX route on the same pre-processed
    batch, compared image by image (:func:`compare_detections`).

    ``score_thr`` defaults to the model's test-time score threshold.
    """
    if score_thr is None:
        cfg = model.test_cfg
        cfg = cfg.get('rcnn', cfg) if cfg is not None else {}
        score_thr = cfg.get('score_thr', 0.05)
    detector = detector or OrtDetector(model, model_dir)
    with torch.no_grad():
        ref = model.predict(inputs, copy.deepcopy(data_samples), rescale=True)
    got = detector.predict(inputs, copy.deepcopy(data_samples), rescale=True)
    return [
        compare_detections(r.pred_instances, g.pred_instances, score_thr)
        for r, g in zip(ref, got)
    ]


def load_image(model: nn.Module, cfg, kind: str, image: str):
    """Run the config's test pipeline and the model's data pre-processor on one
    image file; returns (inputs, data_samples) as ``model.predict`` takes
    them."""
    from mmengine.dataset import Compose, pseudo_collate
    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image!r} does not exist')
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    pipeline = [t for t in pipeline if 'LoadAnnotations' not in t['type']]
    data = Compose(pipeline)(dict(img_path=image, img_id=0))
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    return batch['inputs'], batch.get('data_samples')


def preprocess_info(cfg, kind: str) -> Dict[str, object]:
    """What the exported graphs expect as input, read from the config's
    ``data_preprocessor``: channel order, mean, std, padding."""
    dp = cfg.model.get('data_preprocessor') or cfg.get(
        'data_preprocessor') or {}
    to_rgb = dp.get('bgr_to_rgb', dp.get('to_rgb', False))
    divisor = dp.get('pad_size_divisor', 1)
    pad = dp.get('pad_value', 0)
    if kind == 'detector':
        padding = (
            f'bottom/right with {pad} to a multiple of {divisor} (the data '
            'pre-processor; the graph itself runs at any size)')
    else:
        padding = (
            'none (the test pipeline resizes and crops; the graph runs at '
            'any size)')
    steps = []
    for t in cfg.get('test_dataloader', {}).get('dataset',
                                                {}).get('pipeline', []):
        if t['type'].split('.')[-1].startswith(('Load', 'Pack')):
            continue
        args = ', '.join(f'{k}={v!r}' for k, v in t.items() if k != 'type')
        steps.append(f'{t["type"]}({args})')
    return dict(
        resize=', '.join(steps) or 'none',
        channel_order='RGB' if to_rgb else 'BGR (as loaded by OpenCV)',
        mean=list(dp.get('mean', [])),
        std=list(dp.get('std', [])),
        padding=padding)
