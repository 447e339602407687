"""``python -m rla_mm.convert_rlanet``: the documented command of
``tools/model_converters/rlanet_to_rla_mm.py``; the code is in
:mod:`rla_mm.converters` (``published.main``)."""
import sys

from .converters.published import main

if __name__ == '__main__':
    sys.exit(main())
