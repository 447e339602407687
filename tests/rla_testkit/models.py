"""Models with weights that show: random norms, and a config's untrained model
saved as a checkpoint."""
import os
import os.path as osp


def randomize_norms(model, seed: int = 0):
    """Give every BN of ``model`` random statistics and affine parameters (not
    the identity of a fresh BN), so that loading them is visible in outputs;
    return ``model`` in eval mode."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()  # MMDetection's train() returns None, so this is no chain
    return model


def save_untrained(config: str, path, options=(), classes=None) -> str:
    """Build the model of ``config`` with seed 0 under the config's default
    scope and save it as a checkpoint at ``path``; return the path.

    Args:
        config (str): A config file.
        path (str | Path): Where the checkpoint goes (folders are made).
        options (sequence[str]): ``key=int`` overrides of the config.
        classes (sequence[str], optional): The checkpoint's
            ``meta.dataset_meta.classes``; default: the config's ``classes``,
            or no dataset meta.
    """
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        k: int(v)
        for k, v in (o.split('=') for o in options)
    })
    if classes is None and 'classes' in cfg:
        classes = cfg.classes
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    path = str(path)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    meta = {} if classes is None else dict(
        dataset_meta=dict(classes=list(classes)))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path
