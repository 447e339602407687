"""Convert an authors' RLANet ImageNet checkpoint into an rla_mm classifier checkpoint.

Usage:
    python tools/model_converters/rlanet_to_rla_mm.py SRC DST [--arch ARCH]

The same as ``python -m rla_mm.convert_rlanet``, which an installed rla_mm has.
The result loads with ``mmpretrain.get_model(CONFIG, pretrained=DST)`` and initialises
detection backbones through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import sys

from rla_mm.convert_rlanet import main

if __name__ == '__main__':
    sys.exit(main())
