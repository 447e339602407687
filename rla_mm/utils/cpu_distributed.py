"""Run tools/dist_train.sh and tools/dist_test.sh on a machine without a GPU.

On such a machine MMEngine 0.10.7's ``init_dist`` calls
``torch.cuda.set_device`` and the runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``; both fail.
:func:`prepare_distributed` starts PyTorch's gloo process group (from the same
torchrun environment) and asks for a device-less DDP wrapper instead;
:func:`finish_distributed` ends such a run.
"""
import logging
import os
import sys

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
    global _STARTED_HERE
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
        _STARTED_HERE = True


_STARTED_HERE = False


def finish_distributed() -> None:
    """End a CPU (gloo) run that :func:`prepare_distributed` started, once the
    tool has finished its work; no-op otherwise.

    With torch 2.14, a process that used DDP over gloo aborts now and then
    while the interpreter tears down ("terminate called without an active
    exception", exit code -6) after a run that finished, so torchrun reports a
    failure: in 1 of 8 two-process runs of a DDP step, whether or not the
    process group was destroyed first, and in none of 16 when the process
    leaves as here. All ranks meet, the group is destroyed, logs and output are
    flushed, and the process exits with 0 without that teardown.
    """
    if not _STARTED_HERE:
        return
    dist.barrier()
    dist.destroy_process_group()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
