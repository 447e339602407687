"""Convert an authors' RLANet ImageNet checkpoint into an rla_mm classifier
checkpoint.

Usage:
    python tools/model_converters/rlanet_to_rla_mm.py SRC DST [--arch ARCH]
    python tools/model_converters/rlanet_to_rla_mm.py --all DOWNLOADS/
        checkpoints/

``--all`` converts every one of the authors' published files in a folder (the
classifiers and the 12 MMDetection 2.x detectors), recognised by content, under
the names our configs expect (docs/weights.md).

The same as ``python -m rla_mm.convert_rlanet``, which an installed rla_mm has.
The result loads with ``mmpretrain.get_model(CONFIG, pretrained=DST)`` and
initialises detection backbones through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
# first: env_check says what to do when torch is missing
import env_check  # noqa: F401 isort: skip
import sys

from rla_mm.converters.published import main

if __name__ == '__main__':
    sys.exit(main())
