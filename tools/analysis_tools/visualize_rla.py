"""Draw what the RLA recurrence aggregates, for one image and one checkpoint.

Usage:
    python tools/analysis_tools/visualize_rla.py CONFIG CHECKPOINT IMAGE \
        --out-dir DIR [--plain-config CONFIG --plain-checkpoint CKPT]
        [--no-knock-out] [--device cpu] [--cfg-options k=v ...]
        [--plain-cfg-options k=v ...]

It runs the config's test pipeline on IMAGE and the model's backbone, records
every RLA update ``h_t = R(tanh(BN_t(h_{t-1} + O(y_t))))`` (paper Eq. 11) with
:func:`rla_mm.visualization.record_hidden`, and writes into DIR:

* ``hidden_state.png``: the channel mean of h_t after every block, one row per
  stage (one colour scale per stage, zero in white);
* ``update_strength.png``: per block, the RMS of the new features O(y_t)
  against the RMS of the state the recurrence carries in, h_{t-1}; the share of
  the new features, ``|O(y_t)| / (|O(y_t)| + |h_{t-1}|)``; and (unless
  ``--no-knock-out``) how much the final hidden state changes when that block's
  O(y_t) is set to zero (:func:`rla_mm.visualization.knock_out`), the
  recurrence's memory of each block (paper Sec. 3);
* ``cam.png`` (classifiers with a global-average-pooling neck and a linear
  head): the class activation map (Zhou et al., CVPR 2016) of the predicted
  class, beside that of ``--plain-config``/``--plain-checkpoint`` when given;
* ``rla_hidden.json``: the numbers behind the figures.

A detector's backbone builds no update after its last block (nothing reads
that state), so its last block has no record and "final" is the last state it
builds.
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

import rla_mm  # noqa: F401,E402  (registers the backbones)
from rla_mm.safe_loading import check_checkpoint_file  # noqa: E402
from rla_mm.visualization import knock_out, record_hidden  # noqa: E402

FIGURES = ('hidden_state.png', 'update_strength.png')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the hidden state of an RLA network for one image')
    parser.add_argument('config', help='config file of the RLA model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        '--out-dir',
        required=True,
        help='folder for the PNGs and rla_hidden.json')
    parser.add_argument(
        '--plain-config',
        help="config of a plain twin, for the CAM beside RLA's")
    parser.add_argument(
        '--plain-checkpoint', help='checkpoint of the plain twin')
    parser.add_argument(
        '--no-knock-out',
        action='store_true',
        help='skip the knock-out runs (one backbone pass per block)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda:0 ...')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries of CONFIG')
    parser.add_argument(
        '--plain-cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries of --plain-config')
    args = parser.parse_args(argv)
    if (args.plain_config is None) != (args.plain_checkpoint is None):
        parser.error('--plain-config and --plain-checkpoint go together')
    return args


def build_model(config: str,
                checkpoint: str,
                device: str,
                cfg_options: Optional[dict] = None):
    """Build the model of ``config`` with the weights of ``checkpoint``, in
    eval mode, and the config's test pipeline without annotations."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    if 'data_preprocessor' in cfg:  # MMPretrain's top-level normalisation
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    else:
        from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    check_checkpoint_file(checkpoint)
    loaded = load_checkpoint(
        model, checkpoint, map_location='cpu', logger='silent')
    meta = loaded.get('meta', {}).get('dataset_meta') or {}
    classes = meta.get('classes') or cfg.get('classes')
    if classes is None:
        dataset = cfg.test_dataloader.dataset
        classes = dataset.get('metainfo', {}).get('classes')
    model.dataset_meta = dict(classes=classes)
    model.to(device).eval()
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # dataset wrappers
        dataset = dataset.dataset
    steps = [
        step for step in dataset.pipeline
        if not step['type'].split('.')[-1].startswith('LoadAnnotations')
    ]
    return model, Compose(steps), scope


def prepare(model, pipeline, image: str) -> dict:
    """The image through the test pipeline and the model's data
    preprocessor."""
    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image!r} does not exist')
    data = pseudo_collate([pipeline(dict(img_path=image))])
    return model.data_preprocessor(data, False)


def rms(t: torch.Tensor) -> float:
    return float(t.float().pow(2).mean().sqrt())


def run_backbone(backbone, inputs):
    with torch.no_grad(), record_hidden(backbone) as record:
        backbone(inputs)
    return record.updates


def knock_out_effects(backbone, inputs, updates) -> List[Dict[str, float]]:
    """Per update, the relative change of the stage's last state and of the
    network's last state when that update's O(y_t) is zero."""
    final = updates[-1].h
    stage_last = {}
    for record in updates:
        stage_last[record.stage] = record.h
    effects = []
    for record in updates:
        with knock_out(backbone, record.stage, record.block):
            dropped = run_backbone(backbone, inputs)
        dropped_stage = [r for r in dropped if r.stage == record.stage][-1].h
        effects.append(
            dict(
                on_final=rms(dropped[-1].h - final) / max(rms(final), 1e-12),
                on_stage=rms(dropped_stage - stage_last[record.stage]) /
                max(rms(stage_last[record.stage]), 1e-12)))
    return effects


def summarize(updates, effects) -> List[dict]:
    rows = []
    for i, r in enumerate(updates):
        o, carried = rms(r.o), rms(r.h_prev)
        row = dict(
            stage=r.stage,
            block=r.block,
            shape=list(r.h.shape[1:]),
            rms_new=o,
            rms_carried=carried,
            rms_hidden=rms(r.h),
            rms_change=rms(r.h - r.h_prev),
            share_new=o / (o + carried) if o + carried > 0 else 0.0,
            hidden_mean=float(r.h.float().mean()))
        if effects is not None:
            row['knock_out_on_final'] = effects[i]['on_final']
            row['knock_out_on_stage'] = effects[i]['on_stage']
        rows.append(row)
    return rows


def draw_hidden_maps(updates, image_rgb: np.ndarray, out: str,
                     title: str) -> None:
    """Channel mean of h_t per block, one row per stage."""
    stages: Dict[str, list] = {}
    for r in updates:
        stages.setdefault(r.stage, []).append(r)
    cols = max(len(v) for v in stages.values()) + 1
    rows = len(stages)
    fig = plt.figure(figsize=(1.2 * cols + 0.6, 1.35 * rows + 0.4))
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1] * cols + [0.08])
    for row, (name, records) in enumerate(stages.items()):
        maps = [r.h[0].float().mean(0).cpu().numpy() for r in records]
        limit = max(float(np.abs(m).max()) for m in maps) or 1.0
        ax = fig.add_subplot(grid[row, 0])
        ax.imshow(image_rgb)
        ax.set_title(name, fontsize=8)
        ax.axis('off')
        for col, (r, m) in enumerate(zip(records, maps), start=1):
            ax = fig.add_subplot(grid[row, col])
            im = ax.imshow(m, cmap='RdBu_r', vmin=-limit, vmax=limit)
            ax.set_title(f'b{r.block}', fontsize=7)
            ax.axis('off')
        cbar = fig.colorbar(im, cax=fig.add_subplot(grid[row, -1]))
        cbar.ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def draw_strength(rows: List[dict], out: str, title: str) -> None:
    """RMS of O(y_t) against h_{t-1}, the new share, and knock-out effects."""
    x = np.arange(len(rows))
    knocked = 'knock_out_on_final' in rows[0]
    panels = 3 if knocked else 2
    fig, axes = plt.subplots(
        panels,
        1,
        figsize=(max(6, 0.16 * len(rows) + 3), 2.3 * panels),
        sharex=True)
    axes[0].plot(
        x, [r['rms_new'] for r in rows], '.-', label='new features O(y_t)')
    axes[0].plot(
        x, [r['rms_carried'] for r in rows],
        '.-',
        label='carried state h_{t-1}')
    axes[0].plot(
        x, [r['rms_hidden'] for r in rows],
        '.-',
        alpha=0.6,
        label='new state h_t')
    axes[0].set_ylabel('RMS')
    axes[0].set_yscale('log')  # h_0 = 0 is left out
    axes[0].legend(fontsize=7)
    axes[1].plot(x, [r['share_new'] for r in rows], '.-', color='C3')
    axes[1].set_ylabel('|O| / (|O| + |h_{t-1}|)', fontsize=8)
    axes[1].set_ylim(0, 1)
    if knocked:
        axes[2].plot(
            x, [r['knock_out_on_final'] for r in rows],
            '.-',
            label='final hidden state')
        axes[2].plot(
            x, [r['knock_out_on_stage'] for r in rows],
            '.-',
            label="the stage's last state")
        axes[2].set_ylabel('change if O(y_t) = 0', fontsize=8)
        axes[2].legend(fontsize=7)
    starts = [
        i for i, r in enumerate(rows)
        if i == 0 or r['stage'] != rows[i - 1]['stage']
    ]
    for ax in axes:
        for s in starts[1:]:
            ax.axvline(s - 0.5, color='gray', lw=0.8, ls='--')
    axes[-1].set_xticks(starts, [rows[s]['stage'] for s in starts], fontsize=8)
    axes[-1].set_xlabel('block (in order of depth)')
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def class_activation_map(model, data) -> Optional[dict]:
    """CAM of the top class: ``relu(sum_k w_ck F_k)`` of the last features
    ``F`` and the linear head's weights ``w`` (None for other models)."""
    from mmpretrain.models.heads import LinearClsHead
    from mmpretrain.models.necks import GlobalAveragePooling
    head, neck = getattr(model, 'head', None), getattr(model, 'neck', None)
    if not isinstance(head, LinearClsHead) or \
            not isinstance(neck, GlobalAveragePooling):
        return None
    with torch.no_grad():
        feats = model.backbone(data['inputs'])[-1]
        scores = head.fc(neck((feats, ))[-1]).softmax(-1)[0]
        label = int(scores.argmax())
        cam = torch.einsum('c,chw->hw', head.fc.weight[label], feats[0])
    cam = cam.clamp(min=0).cpu().numpy()
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    name = classes[label] if classes and label < len(classes) else str(label)
    return dict(cam=cam, label=label, name=name, score=float(scores[label]))


def draw_cams(image_rgb, cams: List[tuple], out: str) -> None:
    import cv2
    fig, axes = plt.subplots(
        1, len(cams) + 1, figsize=(2.6 * (len(cams) + 1), 2.8))
    axes[0].imshow(image_rgb)
    axes[0].set_title('image', fontsize=8)
    h, w = image_rgb.shape[:2]
    for ax, (title, cam) in zip(axes[1:], cams):
        m = cam['cam']
        m = m / m.max() if m.max() > 0 else m
        ax.imshow(image_rgb)
        ax.imshow(
            cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR),
            cmap='jet',
            alpha=0.5,
            vmin=0,
            vmax=1)
        ax.set_title(
            f"{title}: {cam['name']} ({cam['score']:.2f})", fontsize=8)
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import mmcv
    model, pipeline, scope = build_model(args.config, args.checkpoint,
                                         args.device, args.cfg_options)
    data = prepare(model, pipeline, args.image)
    updates = run_backbone(model.backbone, data['inputs'])
    effects = None if args.no_knock_out else knock_out_effects(
        model.backbone, data['inputs'], updates)
    rows = summarize(updates, effects)
    os.makedirs(args.out_dir, exist_ok=True)
    image_rgb = mmcv.imread(args.image, channel_order='rgb')
    title = f'{osp.basename(args.config)}: {osp.basename(args.image)}'
    draw_hidden_maps(updates, image_rgb, osp.join(args.out_dir, FIGURES[0]),
                     title)
    draw_strength(rows, osp.join(args.out_dir, FIGURES[1]), title)
    result = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        image=args.image,
        scope=scope,
        input_shape=list(data['inputs'].shape),
        updates=rows,
        figures=list(FIGURES))
    if scope == 'mmpretrain':
        cam = class_activation_map(model, data)
        if cam is not None:
            cams = [('RLA', cam)]
            result['cam'] = {
                'RLA':
                dict(label=cam['label'], name=cam['name'], score=cam['score'])
            }
            if args.plain_config is not None:
                plain, plain_pipeline, _ = build_model(args.plain_config,
                                                       args.plain_checkpoint,
                                                       args.device,
                                                       args.plain_cfg_options)
                plain_cam = class_activation_map(
                    plain, prepare(plain, plain_pipeline, args.image))
                if plain_cam is None:
                    raise ValueError(
                        f'--plain-config {args.plain_config}: the CAM needs a '
                        f'GlobalAveragePooling neck and a LinearClsHead')
                cams.append(('plain', plain_cam))
                result['cam']['plain'] = dict(
                    label=plain_cam['label'],
                    name=plain_cam['name'],
                    score=plain_cam['score'])
            draw_cams(image_rgb, cams, osp.join(args.out_dir, 'cam.png'))
            result['figures'].append('cam.png')
    with open(osp.join(args.out_dir, 'rla_hidden.json'), 'w') as f:
        json.dump(result, f, indent=1)
    print(f'wrote {", ".join(result["figures"])} and rla_hidden.json '
          f'to {args.out_dir}')
    return result


if __name__ == '__main__':
    main()
