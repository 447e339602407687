"""Generate a small semantic segmentation set of digits.

The canvases of ``make_digits_coco.py`` (``rla_mm.utils.digit_canvases``:
scikit-learn's real handwritten digit scans, upscaled and composited onto
textured colour canvases with random size, colour and partial occlusion;
disjoint scans for train and val), with a label
map per image: 0 for the background, 1 + d for the visible pixels of digit d.
Every output is a deterministic function of ``--seed``.

Usage:
    python tools/data/make_digits_seg.py [--out data/digits_seg]
        [--num-train 600] [--num-val 120] [--size 48] [--seed 0]

Writes ``OUT/img_dir/{train,val}/*.png`` (colour images) and
``OUT/ann_dir/{train,val}/*.png`` (uint8 label maps), the layout of
MMSegmentation's ``BaseSegDataset``.
"""
import argparse
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

from rla_mm.utils.digit_canvases import CLASSES as DIGITS
from rla_mm.utils.digit_canvases import render_canvas, scan_pools

#: Label 0 is the background, label 1 + d digit d.
CLASSES = ('background', ) + DIGITS
#: A colour per class (RGB) for MMSegmentation's visualizer.
PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
           [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240],
           [240, 50, 230], [210, 245, 60], [250, 190, 212]]

#: Digits per canvas, and their height as fractions of the canvas side: at
#: most two, larger than the detection set's, so that a digit covers several
#: cells of an output-stride-8 feature map.
MAX_OBJECTS = 2
SIDES = (0.35, 0.6)


def label_map(objects, size: int) -> np.ndarray:
    """The label map of one canvas: its objects' visible masks (already cut
    by the digits drawn over them) painted with 1 + their digit."""
    labels = np.zeros((size, size), np.uint8)
    for obj in objects:
        labels[obj['mask']] = obj['label'] + 1
    return labels


def make_dataset(out_dir: str,
                 num_train: int = 600,
                 num_val: int = 120,
                 size: int = 48,
                 seed: int = 0) -> Dict[str, int]:
    """Write both splits; return the images of each.

    Args:
        out_dir (str): Output folder.
        num_train (int): Training images.
        num_val (int): Validation images.
        size (int): Image side in pixels (>= 48).
        seed (int): Random seed.
    """
    digits, pools = scan_pools(size, num_train, num_val, seed)
    counts = {}
    for split, n, split_seed in (('train', num_train, seed + 1),
                                 ('val', num_val, seed + 2)):
        rng = np.random.default_rng(split_seed)
        idx = pools[split]
        for kind in ('img_dir', 'ann_dir'):
            os.makedirs(osp.join(out_dir, kind, split), exist_ok=True)
        for i in range(n):
            image, objects = render_canvas(
                rng, digits.images[idx], digits.target[idx], size, MAX_OBJECTS,
                (int(size * SIDES[0]), int(size * SIDES[1])))
            name = f'{i:05d}.png'
            cv2.imwrite(osp.join(out_dir, 'img_dir', split, name), image)
            cv2.imwrite(
                osp.join(out_dir, 'ann_dir', split, name),
                label_map(objects, size))
        counts[split] = n
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/digits_seg')
    parser.add_argument('--num-train', type=int, default=600)
    parser.add_argument('--num-val', type=int, default=120)
    parser.add_argument('--size', type=int, default=48)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    counts = make_dataset(args.out, args.num_train, args.num_val, args.size,
                          args.seed)
    for split, n in counts.items():
        print(f'{split}: {n} images of {args.size}x{args.size} -> '
              f'{osp.join(args.out, "img_dir", split)}, label maps -> '
              f'{osp.join(args.out, "ann_dir", split)}')


if __name__ == '__main__':
    main()
