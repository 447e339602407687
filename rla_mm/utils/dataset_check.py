"""Cheap checks of a config's dataset files before the runner starts.

A missing data root or annotation file otherwise fails deep inside a dataset's
``load_data_list``, and a truncated JSON file (an interrupted download or copy)
with a bare ``JSONDecodeError`` naming no file. This module looks only at what
every dataset that reads an ``ann_file`` shares, whatever its type (COCO, LVIS,
panoptic, VOC lists, ...): that the data root and the annotation file exist
and, for a JSON file, that its first and last bytes are those of a JSON
document. It reads a few bytes of each file, not the file: what is inside is
checked by the dataset's own loader, once, when the runner builds it.
"""
import os.path as osp
from typing import Iterable, Iterator, List

from mmengine.config import Config

#: How many bytes of each end of a JSON file are looked at.
PEEK_BYTES = 4096
_JSON_ENDS = {'{': '}', '[': ']'}


def dataset_configs(cfg: Config, splits: Iterable[str]) -> Iterator[dict]:
    """Yield the dataset configs of the ``splits`` dataloaders, wrappers
    (RepeatDataset, ClassBalancedDataset, ConcatDataset, ...) unwrapped.

    Args:
        cfg (Config): The run's config.
        splits (Iterable[str]): Dataloader keys, e.g. 'train_dataloader'.
    """
    for key in splits:
        loader = cfg.get(key)
        if not loader:
            continue
        stack = [loader.get('dataset', {})]
        while stack:
            ds = stack.pop()
            if ds.get('dataset'):
                stack.append(ds['dataset'])
            stack.extend(ds.get('datasets', []))
            yield ds


def annotation_path(ds: dict) -> str:
    """The annotation file a dataset config reads, joined to its data root as
    MMEngine's ``BaseDataset`` joins it ('' if it reads none).

    Args:
        ds (dict): A dataset config.
    """
    ann_file = ds.get('ann_file') or ''
    root = ds.get('data_root') or ''
    if not ann_file or osp.isabs(ann_file) or not root:
        return ann_file
    return osp.join(root, ann_file)


def _json_bounds(path: str) -> str:
    """'' if ``path`` starts and ends like a JSON object or array, else what is
    wrong."""
    with open(path, 'rb') as f:
        head = f.read(PEEK_BYTES).lstrip()
        f.seek(0, 2)
        f.seek(max(0, f.tell() - PEEK_BYTES))
        tail = f.read().rstrip()
    first = head[:1].decode('latin-1')
    if first not in _JSON_ENDS:
        return f'it starts with {head[:20]!r}, not with {{ or ['
    last = tail[-1:].decode('latin-1')
    if last != _JSON_ENDS[first]:
        return (f'it starts with {first!r} but ends with {tail[-20:]!r}, not '
                f'with {_JSON_ENDS[first]!r} (truncated?)')
    return ''


def check_dataset_files(
    cfg: Config,
    splits: Iterable[str] = ('train_dataloader', 'val_dataloader',
                             'test_dataloader')
) -> List[str]:
    """Check the data roots and annotation files of the config's dataloaders.

    Remote paths (``s3://...``) are left to the dataset.

    Args:
        cfg (Config): The run's config.
        splits (Iterable[str]): Dataloader keys to check.

    Returns:
        list[str]: The annotation files checked.

    Raises:
        FileNotFoundError: if a data root or annotation file does not exist.
        ValueError: if a ``.json`` annotation file does not look like JSON.
    """
    checked = []
    for ds in dataset_configs(cfg, splits):
        kind = ds.get('type', 'dataset')
        root = ds.get('data_root') or ''
        if root and '://' not in root and not osp.isdir(root):
            raise FileNotFoundError(
                f'data root {root!r} does not exist (dataset {kind}); put the '
                f'data there or pass --cfg-options with another data_root')
        path = annotation_path(ds)
        if not path or '://' in path:
            continue
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'annotation file {path!r} does not exist (dataset {kind}, '
                f'data_root={root!r}, ann_file={ds["ann_file"]!r})')
        if path.endswith('.json'):
            wrong = _json_bounds(path)
            if wrong:
                raise ValueError(
                    f'annotation file {path!r} is not valid JSON: {wrong}')
        checked.append(path)
    return checked
