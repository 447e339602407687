"""``python -m rla_mm.convert_mmdet2``: the documented command of
``tools/model_converters/mmdet2_rla_to_rla_mm.py``; the code is in
:mod:`rla_mm.converters.mmdet2`."""
import sys

from .converters.mmdet2 import main

if __name__ == '__main__':
    sys.exit(main())
