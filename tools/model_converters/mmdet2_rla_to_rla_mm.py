"""Convert one of the authors' MMDetection 2.x RLA detectors for our 3.x
configs.

Usage:
    python tools/model_converters/mmdet2_rla_to_rla_mm.py SRC DST
        [--config CONFIG]

The same as ``python -m rla_mm.convert_mmdet2``, which an installed rla_mm has.
It reads the detector, depth and ECA from the weights, checks every key against
our config's detector, and prints the config and the ``tools/test.py`` command
that evaluate the result.
"""
# first: env_check says what to do when torch is missing
import env_check  # noqa: F401 isort: skip
import sys

from rla_mm.converters.mmdet2 import main

if __name__ == '__main__':
    sys.exit(main())
