"""The classification form of the RLA ResNets, written once.

``RLAResNet`` and ``RLAResNetV1d`` default to the detection form: every stage
is an output and the hidden state is dropped (the ``_coco`` configs). The
classification form, that of the ImageNet configs (``configs/_base_/models/
rla_resnet50_in1k.py``) and of the authors' classifiers, reads the last stage
only with the hidden state joined to it (paper Fig. 2 (a), the head reads
``cat[x, act(bn(h))]``)::

    RLAResNet(**classifier_form(depth=50))
"""

#: What the classification form sets; any other argument keeps its default.
CLASSIFIER_FORM = dict(out_indices=(3, ), cat_hidden=True)


def classifier_form(**kwargs) -> dict:
    """``RLAResNet`` keyword arguments of the classification form.

    Args:
        **kwargs: The other arguments (``depth``, ``eca``, ...); giving
            ``out_indices`` or ``cat_hidden`` here is refused.

    Raises:
        TypeError: if ``kwargs`` names an argument the form sets.
    """
    fixed = sorted(set(kwargs) & set(CLASSIFIER_FORM))
    if fixed:
        raise TypeError(
            f'classifier_form() sets {fixed} itself '
            f'({CLASSIFIER_FORM}); build the backbone directly for '
            f'other outputs, got {[kwargs[k] for k in fixed]}')
    return dict(CLASSIFIER_FORM, **kwargs)
