"""Converters of the authors' checkpoints (fangyanwen1106/RLANet) to rla_mm's.

- :mod:`._mapping`: the key-mapping engine they share (rules, checks, errors);
- :mod:`.rlanet`: the authors' classifiers (ImageNet, their ablation files);
- :mod:`.mmdet2`: the authors' MMDetection 2.x detectors;
- :mod:`.published`: their published files, recognised by content, a folder of
  them converted in one command (``--all``), and the table of docs/weights.md.
"""
from ._mapping import ConversionError

__all__ = ['ConversionError']
