"""Run tools/dist_train.sh and tools/dist_test.sh on a machine without a GPU.

On such a machine MMEngine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``
and the runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail.
:func:`prepare_distributed` starts PyTorch's gloo process group (from the same
torchrun environment) and asks for a device-less DDP wrapper instead.
"""
import atexit

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict


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
