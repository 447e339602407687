"""Generate a small image-classification set from scikit-learn's handwritten
digits.

The 1,797 real 8x8 scans that ship with scikit-learn (10 classes) are upscaled
to 32x32 (bilinear) and written as PNG files, split per class into train / val
/ test (70 / 10 / 20 %, deterministic for a given ``--seed``), with MMPretrain
annotation lists (``meta/{split}.txt``: ``relative/path.png label`` per line).

Usage:
    python tools/data/make_digits_cls.py [--out data/digits_cls] [--size 32]
        [--seed 0]
"""
import argparse
import os
import os.path as osp
from typing import Dict, Tuple

import cv2
import numpy as np

SPLITS = (('train', 0.7), ('val', 0.1), ('test', 0.2))


def split_indices(labels: np.ndarray, seed: int) -> Dict[str, np.ndarray]:
    """Stratified train/val/test indices: the fractions of ``SPLITS`` per
    class.

    Args:
        labels (np.ndarray): Class index of every scan.
        seed (int): Random seed.
    """
    rng = np.random.default_rng(seed)
    parts = {name: [] for name, _ in SPLITS}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for i, (name, fraction) in enumerate(SPLITS):
            end = len(idx) if i == len(SPLITS) - 1 \
                else start + int(round(fraction * len(idx)))
            parts[name].append(idx[start:end])
            start = end
    return {name: np.sort(np.concatenate(p)) for name, p in parts.items()}


def to_image(scan: np.ndarray, size: int) -> np.ndarray:
    """An 8x8 scan with values 0..16 as a ``size`` x ``size`` 3-channel uint8
    image.

    Args:
        scan (np.ndarray): The 8x8 scan.
        size (int): Output side in pixels.
    """
    gray = (scan.astype(np.float32) * (255.0 / 16.0))
    gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_LINEAR)
    gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def make_dataset(out_dir: str,
                 size: int = 32,
                 seed: int = 0) -> Dict[str, Tuple[str, int]]:
    """Write the images and annotation lists; return (list file, count) per
    split.

    Args:
        out_dir (str): Output folder.
        size (int): Image side in pixels (>= 8).
        seed (int): Random seed of the split.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f'size must be an int >= 8 pixels, got {size!r}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    from sklearn.datasets import load_digits
    digits = load_digits()
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    written = {}
    for split, idx in split_indices(digits.target, seed).items():
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        lines = []
        for i in idx:
            name = f'{split}/{i:04d}.png'
            cv2.imwrite(
                osp.join(out_dir, name), to_image(digits.images[i], size))
            lines.append(f'{name} {int(digits.target[i])}\n')
        list_file = osp.join(out_dir, 'meta', f'{split}.txt')
        with open(list_file, 'w') as f:
            f.writelines(lines)
        written[split] = (list_file, len(lines))
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/digits_cls')
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for split, (path, n) in make_dataset(args.out, args.size,
                                         args.seed).items():
        print(f'{split}: {n} images -> {path}')


if __name__ == '__main__':
    main()
