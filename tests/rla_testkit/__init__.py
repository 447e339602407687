"""rla_mm's test helpers, a package of its own (``tests/`` is on ``sys.path``
through pytest.ini's ``pythonpath``; the name ``tests`` is taken in
site-packages by model-index and MMSegmentation).

- ``checkout``: the checkout under test (``REPO_ROOT``, ``FIXTURES``), its
  scripts loaded as modules (``load_script``, ``load_tool``) and its wheel
  (``install_wheel``);
- ``models``: ``randomize_norms``, ``save_untrained``;
- ``markdown``: the shell commands of the README and docs;
- ``key_layouts``: checkpoint layouts recorded compactly, compared key by key;
- ``reference_checkpoints``: the authors' checkpoint formats from random
  weights;
- ``rla_functional``, ``rla_ablation_functional``: RLA forwards written from
  the paper with ``torch.nn.functional`` only, sharing nothing with rla_mm.

Nothing here imports the tests, and rla_mm never imports this package.
"""
