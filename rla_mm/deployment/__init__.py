"""Deployment of rla_mm models: ONNX export and its check with ONNX Runtime.

See docs/deploy.md. ``tools/deployment/export_onnx.py`` is the command.
"""
from .export import (ClassifierForward, DetectorForward, describe_onnx,
                     export_model, format_report, load_model)
from .runtime import (OrtClassifier, OrtDetector, OrtGraph, compare_detections,
                      detections_agree, load_image, preprocess_info,
                      verify_classifier, verify_detector)

__all__ = [
    'ClassifierForward', 'DetectorForward', 'describe_onnx', 'export_model',
    'format_report', 'load_model', 'OrtClassifier', 'OrtDetector', 'OrtGraph',
    'compare_detections', 'detections_agree', 'load_image', 'preprocess_info',
    'verify_classifier', 'verify_detector'
]
