"""Run an rla_mm detector or classifier on an image or a folder of images.

Usage:
    python demo/image_demo.py INPUTS CONFIG --weights CHECKPOINT
        [--out-dir outputs] [--device cpu] [--pred-score-thr 0.3] [--topk 5]
        [--batch-size 1]

INPUTS is an image file or a folder (its images, sorted by name). The config's
``default_scope`` picks the library: MMDetection's ``DetInferencer`` for
detectors (boxes, and masks for Mask R-CNN, drawn above ``--pred-score-thr``),
MMPretrain's ``ImageClassificationInferencer`` for classifiers (the ``--topk``
classes and their scores written on the image). Both write what MMDetection's
own ``demo/image_demo.py`` writes:

    OUT_DIR/vis/NAME.png    the pictures
    OUT_DIR/preds/NAME.json the predictions

The configs import rla_mm themselves (``custom_imports``), so the same two
inferencers work from Python as well, see ``docs/inference.md``.
"""
import argparse
import json
import os
import os.path as osp
from typing import List

from mmengine.config import Config
from mmengine.registry import DefaultScope

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif',
                  '.tiff', '.webp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Detect or classify an image or a folder of images')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('--weights', required=True, help='checkpoint file')
    parser.add_argument(
        '--out-dir',
        default='outputs',
        help='folder for vis/ (pictures) and preds/ (JSON)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda:0 ...')
    parser.add_argument(
        '--pred-score-thr',
        type=float,
        default=0.3,
        help='detectors: draw the boxes scoring above this')
    parser.add_argument(
        '--topk',
        type=int,
        default=5,
        help='classifiers: write the k best classes')
    parser.add_argument('--batch-size', type=int, default=1)
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if not 0 <= args.pred_score_thr <= 1:
        parser.error(f'--pred-score-thr must be in [0, 1], got '
                     f'{args.pred_score_thr}')
    return args


def list_images(inputs: str) -> List[str]:
    """``inputs`` itself, or the images of the folder ``inputs``, by name."""
    if osp.isfile(inputs):
        return [inputs]
    if not osp.isdir(inputs):
        raise FileNotFoundError(f'{inputs!r} is neither an image nor a folder')
    images = sorted(
        osp.join(inputs, name) for name in os.listdir(inputs)
        if name.lower().endswith(IMAGE_SUFFIXES))
    if not images:
        raise FileNotFoundError(f'no image ({", ".join(IMAGE_SUFFIXES)}) in '
                                f'the folder {inputs!r}')
    return images


def check_weights_match(model, weights: str) -> dict:
    """Load ``weights`` into ``model`` strictly (both inferencers load
    checkpoints leniently and only warn when the config does not match);
    return the checkpoint's ``meta``."""
    from mmengine.runner import load_checkpoint
    try:
        checkpoint = load_checkpoint(
            model, weights, map_location='cpu', strict=True, logger='silent')
    except RuntimeError as error:
        lines = str(error).strip().splitlines()
        raise ValueError(f'the weights {weights!r} do not fit the model of '
                         f'the config: {" ".join(lines[:2])[:400]}') from None
    return checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}


def detect(args, images: List[str]) -> None:
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(
        model=args.config,
        weights=args.weights,
        device=args.device,
        show_progress=False)
    check_weights_match(inferencer.model, args.weights)
    inferencer(
        images,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        pred_score_thr=args.pred_score_thr,
        no_save_pred=False)


def config_classes(config: str):
    """The class names of the config's test set (for checkpoints without)."""
    dataset = Config.fromfile(config).test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    return dataset.get('metainfo', {}).get('classes')


def classify(args, images: List[str]) -> None:
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(
        model=args.config, pretrained=False, device=args.device)
    meta = check_weights_match(inferencer.model, args.weights)
    inferencer.classes = (meta.get('dataset_meta')
                          or {}).get('classes') or config_classes(args.config)
    classes = inferencer.classes
    vis_dir, pred_dir = (osp.join(args.out_dir, d) for d in ('vis', 'preds'))
    os.makedirs(vis_dir, exist_ok=True)
    os.makedirs(pred_dir, exist_ok=True)
    samples = inferencer(
        images, return_datasamples=True, batch_size=args.batch_size)
    for image, sample in zip(images, samples):
        k = min(args.topk, sample.pred_score.numel())
        scores, labels = sample.pred_score.topk(k)
        # MMPretrain's visualizer writes every label of pred_label.
        sample.set_pred_label(labels)
        inferencer.visualize([image], [sample], show_dir=vis_dir)
        name = osp.splitext(osp.basename(image))[0]
        record = dict(
            labels=labels.tolist(),
            scores=[float(s) for s in scores],
            classes=[classes[i] for i in labels.tolist()] if classes else None)
        with open(osp.join(pred_dir, name + '.json'), 'w') as f:
            json.dump(record, f, indent=1)


def main(argv=None) -> None:
    args = parse_args(argv)
    import rla_mm  # noqa: F401  (registers the backbones, checkpoint checks)
    from rla_mm.safe_loading import check_checkpoint_file
    check_checkpoint_file(args.weights)
    images = list_images(args.inputs)
    scope = Config.fromfile(args.config).get('default_scope', 'mmdet')
    # The library's registries build the pipeline, whatever scope the
    # process was in (DetInferencer sets its own).
    with DefaultScope.overwrite_default_scope(scope):
        if scope == 'mmpretrain':
            classify(args, images)
        else:
            detect(args, images)
    print(f'{len(images)} image(s): pictures in {args.out_dir}/vis, '
          f'predictions in {args.out_dir}/preds')


if __name__ == '__main__':
    main()
