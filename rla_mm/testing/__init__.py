"""What rla_mm's own checks share: the per-backbone case table
(:mod:`rla_mm.testing.backbone_cases`) and the precision / layout checks that
``tools/analysis_tools/gpu_check.py`` and ``tests/cuda`` run
(:mod:`rla_mm.testing.gpu_checks`).

Nothing is imported here, so that ``backbone_cases`` stays loadable on its own.
"""
