"""Generate a small COCO-format detection + instance segmentation set of
digits.

Real handwritten digit scans (scikit-learn's bundled digits, 1,797 8x8 scans of
43 writers) are upscaled and composited onto textured colour canvases, with
random size, colour, and partial occlusion. Train and val use disjoint scans.
Every output is a deterministic function of ``--seed``.

Usage:
    python tools/data/make_digits_coco.py [--out data/digits_coco]
        [--num-train 800] [--num-val 150] [--size 160] [--seed 0]

Writes ``OUT/{train,val}/*.png`` and
``OUT/annotations/instances_{train,val}.json`` with boxes, polygon masks, areas
and the categories 'zero' .. 'nine'.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np

from rla_mm.utils.digit_canvases import CLASSES, render_canvas, scan_pools


def _polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        if len(c) >= 3 and cv2.contourArea(c) >= 4:
            polys.append([float(v) + 0.5 for v in c.reshape(-1)])
    return polys


def build_split(out_dir: str, split: str, scans: np.ndarray,
                labels: np.ndarray, num_images: int, size: int,
                seed: int) -> Dict:
    """Render one split to ``out_dir/split`` and return its COCO dict."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        image, objects = render_canvas(rng, scans, labels, size)
        file_name = f'{image_id:05d}.png'
        cv2.imwrite(osp.join(out_dir, split, file_name), image)
        images.append(
            dict(id=image_id, file_name=file_name, width=size, height=size))
        for obj in objects:
            ys, xs = np.nonzero(obj['mask'])
            polys = _polygons(obj['mask'])
            if not polys:
                continue
            x1, y1 = float(xs.min()), float(ys.min())
            w, h = float(xs.max() + 1) - x1, float(ys.max() + 1) - y1
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=obj['label'] + 1,
                    bbox=[x1, y1, w, h],
                    area=float(obj['mask'].sum()),
                    segmentation=polys,
                    iscrowd=0))
    categories = [
        dict(id=i + 1, name=name, supercategory='digit')
        for i, name in enumerate(CLASSES)
    ]
    return dict(
        images=images,
        annotations=annotations,
        categories=categories,
        info=dict(
            description='rla_mm digits-on-texture demo set',
            source='scikit-learn load_digits',
            seed=seed))


def make_dataset(out_dir: str,
                 num_train: int = 800,
                 num_val: int = 150,
                 size: int = 160,
                 seed: int = 0) -> Dict[str, str]:
    """Write both splits; return the annotation file of each.

    Args:
        out_dir (str): Output folder.
        num_train (int): Training images.
        num_val (int): Validation images.
        size (int): Image side in pixels (>= 48).
        seed (int): Random seed.
    """
    digits, pools = scan_pools(size, num_train, num_val, seed)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    files = {}
    for split, n, split_seed in (('train', num_train, seed + 1),
                                 ('val', num_val, seed + 2)):
        idx = pools[split]
        coco = build_split(out_dir, split, digits.images[idx],
                           digits.target[idx], n, size, split_seed)
        path = osp.join(out_dir, 'annotations', f'instances_{split}.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
        files[split] = path
    return files


def cfg_options(root: str,
                epochs: int = 1,
                coco_layout: bool = True,
                scale: Optional[int] = None) -> List[str]:
    """``--cfg-options`` that train and test a detector config on this data.

    Args:
        root (str): Folder written by :func:`make_dataset`.
        epochs (int): Training epochs (a checkpoint after each).
        coco_layout (bool): The config reads COCO's file names
            (``annotations/instances_train2017.json``, ``train2017/``) and 80
            classes, as the 1x COCO configs do; they are pointed at this data's
            names and ten classes. False for configs/demo/, which use ours.
        scale (int, optional): Resize every image to ``scale`` x ``scale``
            (train and test pipelines of MMDetection's COCO datasets).
    """
    ann = osp.join(root, 'annotations', 'instances_{}.json')
    opts = [
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=3',
        'default_hooks.logger.interval=1',
        f'val_evaluator.ann_file={ann.format("val")}',
        f'test_evaluator.ann_file={ann.format("val")}'
    ]
    for split in ('train', 'val', 'test'):
        opts += [
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False',
            f'{split}_dataloader.dataset.data_root={root}/'
        ]
    if coco_layout:
        for split, name in (('train', 'train'), ('val', 'val'), ('test',
                                                                 'val')):
            opts += [
                f'{split}_dataloader.dataset.ann_file='
                f'annotations/instances_{name}.json',
                f'{split}_dataloader.dataset.data_prefix.img={name}/',
                # a tuple, as MMDetection's datasets give them (its
                # confusion_matrix.py appends to them with a tuple)
                f'{split}_dataloader.dataset.metainfo.classes=('
                f'{",".join(CLASSES)})'
            ]
    if scale is not None:
        # pipeline positions of MMDetection's coco_detection / coco_instance
        opts += [
            f'train_dataloader.dataset.pipeline.2.scale=({scale},{scale})',
            f'val_dataloader.dataset.pipeline.1.scale=({scale},{scale})',
            f'test_dataloader.dataset.pipeline.1.scale=({scale},{scale})'
        ]
    return opts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/digits_coco')
    parser.add_argument('--num-train', type=int, default=800)
    parser.add_argument('--num-val', type=int, default=150)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    files = make_dataset(args.out, args.num_train, args.num_val, args.size,
                         args.seed)
    for split, path in files.items():
        with open(path) as f:
            coco = json.load(f)
        print(f'{split}: {len(coco["images"])} images, '
              f'{len(coco["annotations"])} objects -> {path}')


if __name__ == '__main__':
    main()
