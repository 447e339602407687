"""Digit canvases for the demo data makers (``tools/data/make_digits_*.py``).

Real handwritten digit scans (scikit-learn's bundled digits, 1,797 8x8 scans
of 43 writers) upscaled and composited onto textured colour canvases with
random size, colour and partial occlusion.
"""
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

CLASSES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
           'eight', 'nine')


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour background with mild texture (float, HxWx3)."""
    base = rng.uniform(40, 215, size=(4, 4, 3)).astype(np.float32)
    img = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC)
    blobs = rng.normal(
        0, 12, size=(size // 8, size // 8, 3)).astype(np.float32)
    img += cv2.resize(blobs, (size, size), interpolation=cv2.INTER_LINEAR)
    img += rng.normal(0, 5, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255)


def contrasting_colour(rng: np.random.Generator,
                       background: np.ndarray) -> np.ndarray:
    for _ in range(20):
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - background).mean() > 90:
            return colour
    return 255 - background


def scan_pools(size: int, num_train: int, num_val: int,
               seed: int) -> Tuple[object, Dict[str, np.ndarray]]:
    """Check a data maker's arguments; return scikit-learn's digits and
    disjoint scan indices for train (80 %) and val (20 %).

    Args:
        size (int): Canvas side in pixels (>= 48).
        num_train (int): Training images (>= 1).
        num_val (int): Validation images (>= 1).
        seed (int): Random seed (>= 0).
    """
    if size < 48:
        raise ValueError(f'size must be >= 48 pixels, got {size}')
    for name, n in (('num_train', num_train), ('num_val', num_val)):
        if n < 1:
            raise ValueError(f'{name} must be >= 1, got {n}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    from sklearn.datasets import load_digits
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    cut = int(0.8 * len(order))
    return digits, dict(train=order[:cut], val=order[cut:])


def render_canvas(
        rng: np.random.Generator,
        scans: np.ndarray,
        labels: np.ndarray,
        size: int,
        max_objects: int = 3,
        sides: Optional[Tuple[int,
                              int]] = None) -> Tuple[np.ndarray, List[Dict]]:
    """Compose 1..max_objects digits on a canvas.

    Args:
        rng (np.random.Generator): Random source.
        scans (np.ndarray): Digit scans (N, 8, 8) in [0, 16].
        labels (np.ndarray): Their digits (N, ).
        size (int): Canvas side in pixels.
        max_objects (int): Most digits per image.
        sides (tuple[int, int], optional): Smallest and largest digit
            height in pixels. Default: ``size // 5`` and ``size / 2.5``.

    Returns:
        tuple: The image (uint8, HxWx3) and a list of objects with ``label``,
        ``mask`` (bool HxW, visible part).
    """
    canvas = texture(rng, size)
    objects: List[Dict] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        idx = int(rng.integers(len(scans)))
        low, high = sides or (size // 5, int(size / 2.5))
        side = int(rng.integers(low, high + 1))
        aspect = rng.uniform(0.8, 1.2)
        w, h = max(8, int(side * aspect)), side
        alpha = cv2.resize(
            scans[idx].astype(np.float32) / 16.0, (w, h),
            interpolation=cv2.INTER_CUBIC)
        alpha = np.clip(alpha, 0, 1)
        # Place it where it leaves every earlier digit at least 60% visible,
        # so that every digit drawn is labelled; give up after a few tries.
        for _ in range(10):
            x0 = int(rng.integers(0, size - w + 1))
            y0 = int(rng.integers(0, size - h + 1))
            full = np.zeros((size, size), np.float32)
            full[y0:y0 + h, x0:x0 + w] = alpha
            mask = full > 0.35
            if all((o['mask'] & ~mask).sum() >= 0.6 * o['full_area']
                   for o in objects):
                break
        else:
            continue
        region = canvas[y0:y0 + h, x0:x0 + w].reshape(-1, 3).mean(0)
        colour = contrasting_colour(rng, region)
        canvas = canvas * (1 - full[..., None]) + colour * full[..., None]
        for obj in objects:  # the new digit occludes the earlier ones
            obj['mask'] &= ~mask
        objects.append(
            dict(label=int(labels[idx]), mask=mask, full_area=int(mask.sum())))
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    return image, objects
