"""Convert an authors' RLANet ImageNet checkpoint into an rla_mm classifier checkpoint.

Usage:
    python tools/model_converters/rlanet_to_rla_mm.py SRC DST [--arch ARCH]

The result loads with ``mmpretrain.get_model(CONFIG, pretrained=DST)`` and initialises
detection backbones through
``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import argparse
import os
import os.path as osp
import sys

import torch

from rla_mm.convert_rlanet import (ARCHS, ConversionError, convert_state_dict,
                                   strip_wrapper)

# The rla_mm config of each reference classifier, for the summary.
CONFIGS = {
    'rla_resnet50': 'configs/rla_resnet50_4xb64_in1k.py',
    'rla_resnet50_eca': 'configs/rla_eca_resnet50_4xb64_in1k.py',
    'rla_resnet101': 'configs/rla_resnet101_4xb64_in1k.py',
    'rla_resnet101_eca': 'configs/rla_eca_resnet101_4xb64_in1k.py',
    'rla_resnet152': 'configs/rla_resnet152_4xb64_in1k.py',
    'rla_resnet152_eca': 'configs/rla_eca_resnet152_4xb64_in1k.py',
    'rla_mobilenetv2': 'configs/rla_mobilenet_v2_2xb48_in1k.py',
    'rla_mobilenetv2_eca': 'configs/rla_eca_mobilenet_v2_2xb48_in1k.py',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='reference checkpoint (.pth.tar / .pth)')
    parser.add_argument('dst', help='where to write the rla_mm checkpoint')
    parser.add_argument(
        '--arch', choices=ARCHS,
        help='reference architecture, when the checkpoint has no "arch" entry')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(f'error: source checkpoint {args.src!r} does not exist',
              file=sys.stderr)
        return 1
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    try:
        state_dict, arch = strip_wrapper(checkpoint)
        arch = args.arch or arch
        if not arch:
            raise ConversionError(
                f'{args.src} has no "arch" entry; pass --arch (one of {ARCHS})')
        converted = convert_state_dict(state_dict, arch)
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    dst_dir = osp.dirname(osp.abspath(args.dst))
    os.makedirs(dst_dir, exist_ok=True)
    torch.save(
        dict(state_dict=converted,
             meta=dict(source=osp.basename(args.src), arch=arch,
                       converter='rla_mm rlanet_to_rla_mm')), args.dst)
    # A shared tensor (RLA-MobileNetV2's recurrent conv) is counted once.
    params = {id(v): v.numel() for k, v in converted.items()
              if not k.endswith(('running_mean', 'running_var',
                                 'num_batches_tracked'))}
    print(f'converted {arch}: {len(converted)} tensors, '
          f'{sum(params.values()):,} parameters')
    print(f'wrote {args.dst}')
    if arch in CONFIGS:
        print(f'classifier config: {CONFIGS[arch]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
