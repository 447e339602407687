"""Run-time preparation shared by tools/train.py and tools/test.py.

Two things MMEngine 0.10.7 does not do on its own:

* On a machine without a GPU, ``init_dist`` calls ``torch.cuda.set_device`` and the
  runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on CPU.
  :func:`prepare_distributed` starts PyTorch's gloo process group (from the same
  torchrun environment) and asks for a device-less DDP wrapper instead.
* A missing or malformed COCO annotation file fails deep inside pycocotools with
  a bare ``KeyError`` or ``JSONDecodeError``. :func:`check_coco_annotations`
  names the file and what is wrong before the runner starts.
"""
import argparse
import atexit
import json
import os
import os.path as osp
from typing import Iterable, List

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options that tools/train.py and tools/test.py share.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument('--work-dir', help='where to save logs and results')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=1')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(config: str, args: argparse.Namespace) -> Config:
    """Load ``config`` and apply the shared command-line options.

    Args:
        config (str): Config file path.
        args (argparse.Namespace): Parsed arguments of :func:`add_common_args`.
    """
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make ``launcher`` work on CPU-only machines (gloo); no-op with CUDA.

    Args:
        cfg (Config): The run's config; ``env_cfg`` and ``model_wrapper_cfg``
            are adjusted in place on CPU.
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ValueError(f'launcher {launcher!r} needs GPUs; on a CPU-only '
                         f"machine use launcher 'pytorch' (tools/dist_*.sh)")
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
        # Left to interpreter shutdown, the gloo group's threads are torn down
        # after Python's and the process sometimes aborts ("terminate called
        # without an active exception", exit code -6) after a finished run.
        atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _dataset_configs(cfg: Config) -> Iterable[dict]:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader is None:
            continue
        dataset = loader.get('dataset', {})
        # Unwrap RepeatDataset / ClassBalancedDataset / ConcatDataset.
        stack = [dataset]
        while stack:
            ds = stack.pop()
            if 'dataset' in ds:
                stack.append(ds['dataset'])
            stack.extend(ds.get('datasets', []))
            if ds.get('ann_file') and 'Coco' in str(ds.get('type', '')):
                yield ds


def check_coco_annotations(cfg: Config, splits: Iterable[str] = (
        'train_dataloader', 'val_dataloader', 'test_dataloader')) -> List[str]:
    """Check the COCO annotation files of the config's dataloaders.

    Args:
        cfg (Config): The run's config.
        splits (Iterable[str]): Dataloader keys to check.

    Returns:
        list[str]: The annotation files checked.

    Raises:
        FileNotFoundError: if a data root or annotation file does not exist.
        ValueError: if an annotation file is not COCO JSON.
    """
    checked = []
    sub = Config(dict((k, cfg[k]) for k in splits if cfg.get(k) is not None))
    for ds in _dataset_configs(sub):
        root = ds.get('data_root') or ''
        path = osp.join(root, ds['ann_file'])
        if root and not osp.isdir(root):
            raise FileNotFoundError(
                f'data root {root!r} does not exist (dataset {ds["type"]}); '
                f'put the data there or pass --cfg-options with another '
                f'data_root')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'annotation file {path!r} does not exist (dataset '
                f'{ds["type"]}, data_root={root!r}, ann_file='
                f'{ds["ann_file"]!r})')
        try:
            with open(path) as f:
                data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f'annotation file {path!r} is not valid JSON: '
                             f'{err}') from err
        if not isinstance(data, dict):
            raise ValueError(f'annotation file {path!r} must hold a JSON '
                             f'object, found {type(data).__name__}')
        missing = [k for k in ('images', 'annotations', 'categories')
                   if not isinstance(data.get(k), list)]
        if missing:
            raise ValueError(f'annotation file {path!r} is not COCO format: '
                             f'missing list(s) {missing}')
        for i, ann in enumerate(data['annotations']):
            bad = [k for k in ('image_id', 'category_id', 'bbox')
                   if k not in ann]
            if bad or len(ann.get('bbox', ())) != 4:
                raise ValueError(f'annotation file {path!r}: annotation #{i} '
                                 f'lacks {bad or ["a 4-number bbox"]}')
        checked.append(path)
    return checked
