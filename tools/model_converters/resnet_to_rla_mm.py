"""Write an RLA-ResNet initialisation from a plain ResNet checkpoint.

Usage:
    python tools/model_converters/resnet_to_rla_mm.py SRC DST
        [--config CONFIG | --type RLAResNet --depth 50 --rla-channel 32]
        [--prefix backbone.] [--force]

SRC is any plain ResNet checkpoint: torchvision's (``torchvision://resnet50``
downloads it), an MMDetection or MMPretrain ResNet, classifier or detector
(the backbone is read under ``--prefix``, found by itself when not given). DST
holds the main path in the RLA layout: every block's first conv gets zero
hidden-state input channels, so the untrained RLA network computes the plain
ResNet's features; the RLA parts are left out and start fresh where DST is
loaded. The keys carry ``backbone.``, as the paper configs' ``init_cfg``
(``prefix='backbone.'``) expects.

A swapped config does not need this file: its own ``init_cfg`` or ``load_from``
of a plain checkpoint initialises the RLA backbone the same way.
"""
# first: env_check says what to do when torch is missing
import env_check  # noqa: F401 isort: skip

import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='plain ResNet checkpoint (path or URL)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--config',
        help='a config whose model.backbone is '
        'the RLA backbone to initialise')
    parser.add_argument(
        '--type',
        default='RLAResNet',
        help='RLA backbone type (without --config)')
    parser.add_argument('--depth', type=int, default=50)
    parser.add_argument('--rla-channel', type=int, default=32)
    parser.add_argument(
        '--prefix',
        help="the backbone's prefix in SRC "
        "(default: 'backbone.' when SRC has it, else none)")
    parser.add_argument(
        '--force', action='store_true', help='overwrite DST if it exists')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    from mmengine.runner.checkpoint import CheckpointLoader

    import rla_mm  # noqa: F401
    from rla_mm.models.backbones.plain_init import rla_state_from_plain

    if '://' not in args.src and not osp.isfile(args.src):
        print(f'error: {args.src} does not exist', file=sys.stderr)
        return 1
    if osp.exists(args.dst) and not args.force:
        # the paper configs read checkpoints/rla_resnet50_in1k.pth, which is
        # also where rlanet_to_rla_mm.py --all writes the authors' weights
        print(
            f'error: {args.dst} exists; pass --force to overwrite it, or '
            'choose another DST (the converted authors\' weights may be '
            'there)',
            file=sys.stderr)
        return 1
    if args.config:
        cfg = Config.fromfile(args.config)
        backbone, scope = dict(cfg.model.backbone), cfg.get('default_scope')
    else:
        backbone = dict(
            type=args.type, depth=args.depth, rla_channel=args.rla_channel)
        scope = None
    backbone.pop('init_cfg', None)
    backbone.pop('_delete_', None)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(backbone)
    ckpt = CheckpointLoader.load_checkpoint(args.src, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    prefix = args.prefix
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.')
                                    for k in state) else ''
    try:
        rla = rla_state_from_plain(model, state, prefix)
    except ValueError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict={
                f'backbone.{k}': v
                for k, v in rla.items()
            },
            meta=dict(source=args.src, backbone=backbone, rla_parts='fresh')),
        args.dst)
    print(f'{args.dst}: {len(rla)} main-path tensors of {args.src} for '
          f'{backbone["type"]}; the RLA parts start fresh')
    return 0


if __name__ == '__main__':
    sys.exit(main())
