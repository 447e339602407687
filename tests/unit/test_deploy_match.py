"""The one-to-one matching of detections that the ONNX check reports, and the
deployment API's errors on bad input."""
import pytest
import torch

from rla_mm.deployment import (compare_detections, detections_agree,
                               export_model)


def instances(boxes, scores, labels, masks=None):
    from mmengine.structures import InstanceData
    inst = InstanceData()
    inst.bboxes = torch.tensor(boxes, dtype=torch.float32)
    inst.scores = torch.tensor(scores)
    inst.labels = torch.tensor(labels)
    if masks is not None:
        inst.masks = masks
    return inst


REF = ([[0, 0, 10, 10], [20, 20, 40, 30], [5, 5, 15, 25]], [0.9, 0.6,
                                                            0.03], [1, 2, 1])


def test_matches_one_to_one_whatever_the_order():
    ref = instances(*REF)
    # same detections, other order, boxes moved by 0.01 px, one score by 2e-4
    got = instances([[20, 20, 40, 30.01], [5, 5, 15, 25], [0, 0, 10.01, 10]],
                    [0.6, 0.03, 0.9002], [2, 1, 1])
    stats = compare_detections(ref, got, score_thr=0.05)
    # the 0.03 detection is below the threshold in both
    assert stats['num_ref'] == stats['num_got'] == stats['matched'] == 2
    assert stats['box_max_abs'] == pytest.approx(0.01, abs=1e-5)
    assert stats['score_max_abs'] == pytest.approx(2e-4, abs=1e-6)
    assert detections_agree(stats) == []


def test_reports_each_broken_tolerance():
    ref = instances(*REF)
    # a box off by 1 px, a score off by 0.01, the label of the second changed
    got = instances([[0, 0, 11, 10], [20, 20, 40, 30]], [0.91, 0.6], [1, 3])
    stats = compare_detections(ref, got, score_thr=0.05)
    assert stats['matched'] == 1  # labels must agree to match
    problems = detections_agree(stats)
    assert 'only 1 of 2 matched' in problems
    assert any(p.startswith('box corners differ by 1 px') for p in problems)
    assert any(p.startswith('scores differ by 0.01') for p in problems)
    # a missing detection: counts differ
    stats = compare_detections(ref, instances(*[x[:1] for x in REF]), 0.05)
    assert detections_agree(
        stats)[0] == '1 detections from ONNX Runtime, 2 from PyTorch'


def test_mask_iou_of_matched_pairs():
    masks = torch.zeros(2, 20, 20, dtype=torch.bool)
    masks[0, :10, :10] = True
    masks[1, 10:, 10:] = True
    ref = instances([[0, 0, 10, 10], [10, 10, 20, 20]], [0.9, 0.8], [0, 0],
                    masks)
    other = masks.clone()
    other[1, 10, 10:] = False  # 10 of 100 pixels lost: IoU 0.9
    got = instances([[0, 0, 10, 10], [10, 10, 20, 20]], [0.9, 0.8], [0, 0],
                    other)
    stats = compare_detections(ref, got)
    assert stats['mask_iou_min'] == pytest.approx(0.9)
    assert detections_agree(stats) == ['mask IoU 0.9000 < 0.99']
    assert detections_agree(stats, mask_iou_min=0.85) == []


def test_export_model_rejects_bad_arguments(tmp_path):
    model = torch.nn.Conv2d(3, 3, 1)
    with pytest.raises(
            ValueError,
            match="kind must be 'classifier' or "
            "'detector', got 'segmentor'"):
        export_model(model, 'segmentor', str(tmp_path))
    with pytest.raises(
            ValueError,
            match=r'shape must be \(H, W\) with both '
            r'>= 32, got \(16, 64\)'):
        export_model(model, 'classifier', str(tmp_path), shape=(16, 64))


def test_ort_graph_rejects_bad_level_and_missing_file(tmp_path):
    from rla_mm.deployment import OrtGraph
    with pytest.raises(ValueError, match="level must be one of .* got 'max'"):
        OrtGraph(str(tmp_path / 'x.onnx'), level='max')
    with pytest.raises(FileNotFoundError, match='x.onnx'):
        OrtGraph(str(tmp_path / 'x.onnx'))


def test_load_model_rejects_missing_checkpoint_and_other_scopes(tmp_path):
    from mmengine.config import Config

    from rla_mm.deployment import load_model
    cfg = Config(
        dict(default_scope='mmseg', model=dict(type='EncoderDecoder')))
    with pytest.raises(ValueError, match="default_scope is 'mmseg', expected"):
        load_model(cfg)
    cfg = Config(
        dict(
            default_scope='mmpretrain',
            model=dict(
                type='ImageClassifier',
                backbone=dict(type='RLAResNet', depth=18))))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_model(cfg, str(tmp_path / 'nope.pth'))
