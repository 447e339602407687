"""Export a config's model to ONNX and check it against PyTorch, in one call.

This is what ``tools/deployment/export_onnx.py`` runs.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .export import TRACE_SHAPE, export_model, format_report, load_model
from .runtime import (BOX_ATOL, LOGITS_ATOL, LOGITS_RTOL, MASK_IOU_MIN,
                      SCORE_ATOL, OrtDetector, detections_agree, load_image,
                      preprocess_info, verify_classifier, verify_detector)


def deploy(config: str,
           out_dir: str,
           checkpoint: Optional[str] = None,
           images: Sequence[str] = (),
           shape: Sequence[int] = TRACE_SHAPE,
           cfg_options: Optional[dict] = None,
           score_thr: Optional[float] = None,
           logits_atol: float = LOGITS_ATOL,
           box_atol: float = BOX_ATOL,
           score_atol: float = SCORE_ATOL,
           mask_iou_min: float = MASK_IOU_MIN) -> Dict[str, object]:
    """Export ``config`` (with ``checkpoint``) into ``out_dir``; with
    ``images``, run PyTorch and ONNX Runtime on each and compare.

    Writes the ``.onnx`` graphs, ``export.json`` and ``export.md`` (inputs,
    outputs, opset, pre-processing, the check's figures) and returns the
    report; ``report['verify']['ok']`` is False when a figure breaks its
    tolerance (logits within ``logits_atol``; detections: same count, matched
    one to one, boxes within ``box_atol`` px, scores within ``score_atol``,
    masks IoU >= ``mask_iou_min``).
    """
    model, cfg, kind = load_model(config, checkpoint, cfg_options)
    report = export_model(model, kind, out_dir, shape)
    report.update(
        config=str(config),
        checkpoint=checkpoint,
        preprocess=preprocess_info(cfg, kind))
    if images:
        report['verify'] = _verify(model, cfg, kind, out_dir, images,
                                   score_thr, logits_atol, box_atol,
                                   score_atol, mask_iou_min)
    with open(osp.join(out_dir, 'export.json'), 'w') as f:
        json.dump(report, f, indent=2, default=str)
    with open(osp.join(out_dir, 'export.md'), 'w') as f:
        f.write(format_report(report))
    return report


def _verify(model, cfg, kind: str, out_dir: str, images: Sequence[str],
            score_thr, logits_atol, box_atol, score_atol,
            mask_iou_min) -> Dict[str, object]:
    problems: List[str] = []
    if kind == 'classifier':
        worst = largest = 0.0
        for image in images:
            inputs, _ = load_image(model, cfg, kind, image)
            stats = verify_classifier(model, out_dir, inputs)
            worst = max(worst, stats['logits_max_abs'])
            largest = max(largest, stats['logits_max'])
            # float32 keeps ~7 digits: large logits get a relative tolerance
            tol = max(logits_atol, LOGITS_RTOL * stats['logits_max'])
            if stats['logits_max_abs'] > tol:
                problems.append(f'{osp.basename(image)}: logits differ by '
                                f'{stats["logits_max_abs"]:.3g} > {tol:.3g}')
        return dict(
            images=len(images),
            logits_max_abs=worst,
            logits_max=largest,
            tolerance=(f'logits within {logits_atol}, or '
                       f'{LOGITS_RTOL} x the largest |logit| when that '
                       'is larger'),
            ok=not problems,
            problems=problems)
    detector = OrtDetector(model, out_dir)
    total = dict(
        num_ref=0,
        num_got=0,
        matched=0,
        box_max_abs=0.0,
        score_max_abs=0.0,
        box_iou_min=1.0)
    for image in images:
        inputs, samples = load_image(model, cfg, kind, image)
        for stats in verify_detector(model, out_dir, inputs, samples,
                                     score_thr, detector):
            for k in ('num_ref', 'num_got', 'matched'):
                total[k] += stats[k]
            for k in ('box_max_abs', 'score_max_abs'):
                total[k] = max(total[k], stats[k])
            for k in ('box_iou_min', 'mask_iou_min'):
                if k in stats:
                    total[k] = min(total.get(k, 1.0), stats[k])
            problems += [
                f'{osp.basename(image)}: {p}' for p in detections_agree(
                    stats, box_atol, score_atol, mask_iou_min)
            ]
    total.update(
        images=len(images),
        tolerance=(f'same count, one-to-one match, boxes within '
                   f'{box_atol} px, scores within {score_atol}, '
                   f'mask IoU >= {mask_iou_min}'),
        ok=not problems,
        problems=problems)
    return total
