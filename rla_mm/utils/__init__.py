"""What rla_mm's tools and tests share, importable from the package.

- :mod:`~rla_mm.utils.cli_options`: the options and config loading of
  ``tools/train.py`` and ``tools/test.py``;
- :mod:`~rla_mm.utils.cpu_distributed`: DDP on CPU-only machines (gloo);
- :mod:`~rla_mm.utils.dataset_check`: a cheap check of a config's dataset
  files;
- :mod:`~rla_mm.utils.digit_canvases`: the digit canvases of the demo data
  makers;
- :mod:`~rla_mm.utils.markdown_block`: rewrite one marked block of a Markdown
  file.

Each is imported by name (``from rla_mm.utils.cli_options import ...``); this
module imports none of them, so ``import rla_mm`` stays light.
"""
