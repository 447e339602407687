"""The authors' published checkpoints: which they are, recognising one,
converting a folder of them, and the table of ``docs/weights.md``.

The facts come from the metafiles, the one place of them: each classifier entry
of ``configs/metafile.yml`` with a ``Reference Checkpoint`` (the authors' file,
saved as ``NAME.pth.tar``) and its ``Reference Arch``, and each detector of
``configs/metafile_det.yml`` with its ``Published Checkpoint`` (``NAME.pth``).
The converted file is named after our config: the classifier config without its
batch size (``rla_resnet50_4xb64_in1k.py`` -> ``rla_resnet50_in1k.pth``, the
name the detection configs' ``init_cfg.checkpoint`` reads) and the detector
config itself (``faster_rcnn_rla_r50_fpn_1x_coco.pth``).

Command line (also ``python -m rla_mm.convert_rlanet``)::

    python tools/model_converters/rlanet_to_rla_mm.py SRC DST [--arch ARCH]
    python tools/model_converters/rlanet_to_rla_mm.py --all DOWNLOADS/ \
        checkpoints/

``--all`` reads every file of DOWNLOADS, recognises it by its content (the
``arch`` entry and the key layout of the authors' classifiers; the heads, depth
and ECA of their MMDetection 2.x detectors), converts it to the name our config
expects and prints what it converted and what it did not, and why.
"""
import argparse
import os
import os.path as osp
import pickle
import re
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..configs import (ABLATION_METAFILE, CLS_METAFILE, DET_METAFILE,
                       load_metafile)
from ..safe_loading import load_foreign
from . import mmdet2, rlanet
from ._mapping import ConversionError, parameter_count, strip_wrapper

AUTHORS_REPOSITORY = 'https://github.com/fangyanwen1106/RLANet'
CHECKPOINTS = 'checkpoints'
TABLE_TAG = 'published-weights'
# the suffixes of the authors' file names
CLASSIFIER_SUFFIX, DETECTOR_SUFFIX = '.pth.tar', '.pth'
_DETECTOR_TITLES = dict(
    faster_rcnn='Faster R-CNN', retinanet='RetinaNet', mask_rcnn='Mask R-CNN')
# the top-level keys of an MMDetection detector's heads
_HEAD_PREFIXES = ('neck.', 'rpn_head.', 'roi_head.', 'bbox_head.')


class Published(NamedTuple):
    """One of the authors' published checkpoints."""
    file: str  # the authors' file name
    kind: str  # 'classifier' or 'detector'
    arch: str  # reference arch (classifier) or our detector config's stem
    model: str  # a reader's name of the model
    metric: str  # what the authors report for the file
    config: str  # our config, from the repository root
    converted: str  # the converted file, under checkpoints/


def converted_name(config: str) -> str:
    """The converted file our config expects: the config's name without its
    batch size ('_4xb64') and ``.py``, with ``.pth``.

    Args:
        config (str): A config path or file name.
    """
    stem = osp.splitext(osp.basename(config))[0]
    return re.sub(r'_\d+xb\d+', '', stem) + '.pth'


def classifier_configs() -> Dict[str, str]:
    """Reference arch -> our classifier config, for every metafile entry (the
    main and the ablation models) that names one."""
    configs = {}
    for name in (CLS_METAFILE, ABLATION_METAFILE):
        for model in load_metafile(name).values():
            arch = model['Metadata'].get('Reference Arch')
            if arch:
                configs.setdefault(arch, model['Config'])
    return configs


def published_checkpoints() -> List[Published]:
    """Every checkpoint the authors publish, classifiers then detectors, in the
    metafiles' order."""
    entries = []
    for model in load_metafile(CLS_METAFILE).values():
        meta = model['Metadata']
        if 'Reference Checkpoint' not in meta:
            continue
        top1 = model['Results'][0]['Metrics']['Top 1 Accuracy']
        entries.append(
            Published(
                file=meta['Reference Checkpoint'] + CLASSIFIER_SUFFIX,
                kind='classifier',
                arch=meta['Reference Arch'],
                model=rlanet.model_title(meta['Reference Arch']),
                metric=f'top-1 {top1:.2f}',
                config=model['Config'],
                converted=converted_name(model['Config'])))
    for model in load_metafile(DET_METAFILE).values():
        found = mmdet2.detector_of_config(model['Config'])
        if found is None:
            raise ValueError(f"{DET_METAFILE}: {model['Config']} is not the "
                             'config of one of the authors\' detectors')
        box = next(r['Metrics'] for r in model['Results']
                   if r['Task'] == 'Object Detection')
        entries.append(
            Published(
                file=model['Metadata']['Published Checkpoint'] +
                DETECTOR_SUFFIX,
                kind='detector',
                arch=osp.splitext(osp.basename(model['Config']))[0],
                model=f'{_DETECTOR_TITLES[found.detector]}, RLA-'
                f'{"ECA-" if found.eca else ""}ResNet-{found.depth}',
                metric=f"box AP {box['box AP']:.1f}",
                config=model['Config'],
                converted=converted_name(model['Config'])))
    return entries


def weights_table() -> str:
    """The Markdown table of ``docs/weights.md`` (between
    ``<!-- published-weights:begin -->`` and
    ``<!-- published-weights:end -->``)."""
    rows = [
        "| authors' file | model | authors' figure | our config | "
        'converted file |', '| --- | --- | --- | --- | --- |'
    ]
    for e in published_checkpoints():
        rows.append(f'| `{e.file}` | {e.model} | {e.metric} | '
                    f'[`{osp.basename(e.config)}`](../{e.config}) | '
                    f'`{CHECKPOINTS}/{e.converted}` |')
    return '\n'.join(rows) + '\n'


# ------------------------------------------------------------ recognition
class Recognised(NamedTuple):
    """What :func:`recognise` found a file to be."""
    kind: str  # 'classifier' or 'detector'
    what: str  # reference arch, or the detector in words
    config: str  # our config
    converted: str  # the converted file's name
    checkpoint: dict  # the loaded file
    note: str  # '' or what the reader should know


class Unrecognised(Exception):
    """A file of the folder that is not one of the authors' checkpoints."""


def _load(path: str) -> dict:
    """``path`` loaded (``weights_only``), or :class:`Unrecognised` saying why
    not."""
    try:
        checkpoint = load_foreign(path)
    # torch.load raises KeyError, EOFError, RuntimeError ...
    except Exception as err:
        python_object = re.search(r'GLOBAL ([\w.]+)', str(err))
        if isinstance(err, pickle.UnpicklingError) and python_object:
            raise Unrecognised(
                f'names the Python object {python_object.group(1)}: only an '
                'unsafe torch.load (weights_only=False) would build it, '
                'running code from the file') from None
        reason = ' '.join(str(err).strip().split())
        raise Unrecognised(
            'not a readable torch checkpoint (truncated, corrupt or another '
            f'format; torch says {type(err).__name__}: {reason[:80]})'
        ) from None
    if not isinstance(checkpoint, dict):
        raise Unrecognised(f'not a checkpoint: a {type(checkpoint).__name__}')
    return checkpoint


def _name_note(path: str, what: str, by_file: Dict[str, Published]) -> str:
    """A note when the file carries the authors' name of another model."""
    published = by_file.get(osp.basename(path))
    if published is not None and published.arch != what:
        return (f"named as the authors' file of {published.arch}, but its "
                f'content is {what}')
    return ''


def recognise(path: str, arch_configs: Dict[str, str],
              by_file: Dict[str, Published]) -> Recognised:
    """What the file ``path`` is, read from its content.

    Args:
        path (str): A file.
        arch_configs (dict): :func:`classifier_configs`.
        by_file (dict): The published checkpoints by the authors' file name.

    Raises:
        Unrecognised: saying why the file is not one of the authors'.
    """
    checkpoint = _load(path)
    meta = checkpoint.get('meta')
    if isinstance(meta, dict) and ('converted_from' in meta or str(
            meta.get('converter', '')).startswith('rla_mm')):
        raise Unrecognised('already an rla_mm checkpoint (converted before)')
    state_dict, arch = strip_wrapper(checkpoint)
    if any(k.startswith('backbone.') for k in state_dict) and any(
            k.startswith(_HEAD_PREFIXES) for k in state_dict):
        try:
            found = mmdet2.identify(state_dict)
        except ConversionError as err:
            raise Unrecognised(f'a detector, but {err}') from None
        config = 'configs/' + mmdet2.config_name(*found)
        what = osp.splitext(osp.basename(config))[0]
        return Recognised('detector', what, config, converted_name(config),
                          checkpoint, _name_note(path, what, by_file))
    note = ''
    if not arch:
        arch = rlanet.layout_arch(state_dict)
        if arch is None and 'layer1.0.conv1.weight' in state_dict:
            raise Unrecognised(
                'a plain ResNet (torchvision layout), not an RLA network: an '
                'RLA-ResNet starts from it through its init_cfg '
                '(docs/weights.md)')
        if arch is None:
            raise Unrecognised(
                'no "arch" entry, and its keys are not the layout of one of '
                "the authors' RLA-ResNets, RLA-MobileNetV2s or MMDetection "
                '2.x detectors')
        note = f'no "arch" entry: {arch} by its key layout'
    if arch not in arch_configs:
        if arch in rlanet.ARCHS:
            raise Unrecognised(
                f'arch {arch!r} converts, but no config of ours builds it: '
                'convert it alone (SRC DST) under a name of your choice')
        raise Unrecognised(f'arch {arch!r} is not one of the authors\' '
                           f'models that rla_mm converts ({len(rlanet.ARCHS)} '
                           'archs, see --help)')
    config = arch_configs[arch]
    note = '; '.join(n for n in (note, _name_note(path, arch, by_file)) if n)
    return Recognised('classifier', arch, config, converted_name(config),
                      checkpoint, note)


def convert_recognised(found: Recognised, source: str, dst: str) -> str:
    """Convert a recognised file into ``dst``; return a one-line summary.

    Args:
        found (Recognised): What :func:`recognise` returned.
        source (str): The source file's name, kept in ``meta``.
        dst (str): Where to write the result.
    """
    if found.kind == 'detector':
        report = mmdet2.convert_checkpoint(found.checkpoint, source, dst)
        return report.splitlines()[0][len('converted '):]
    state_dict, _ = strip_wrapper(found.checkpoint)
    converted = rlanet.convert_state_dict(state_dict, found.what)
    rlanet.save_converted(dst, converted, source, found.what)
    return (f'{found.what}: {len(converted)} tensors, '
            f'{parameter_count(converted):,} parameters')


def _columns(rows: List[Tuple[str, ...]]) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        '  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows
    ]


def convert_folder(src: str, dst: str) -> Tuple[List[tuple], List[tuple]]:
    """Convert every authors' checkpoint in the folder ``src`` into ``dst``.

    Args:
        src (str): The folder of downloaded files (not searched below).
        dst (str): The folder of the converted files.

    Returns:
        tuple: the rows converted (file, what, config, written file, summary,
        note) and the rows not converted (file, why).
    """
    arch_configs = classifier_configs()
    by_file = {p.file: p for p in published_checkpoints()}
    converted, skipped, written = [], [], {}
    for name in sorted(os.listdir(src)):
        path = osp.join(src, name)
        if not osp.isfile(path):
            continue
        try:
            found = recognise(path, arch_configs, by_file)
            out = osp.join(dst, found.converted)
            if out in written:
                raise Unrecognised(f'the same model as {written[out]}, '
                                   f'already written to {out}')
            summary = convert_recognised(found, name, out)
        except (Unrecognised, ConversionError) as err:
            skipped.append((name, str(err).replace('\n', ' ')))
            continue
        written[out] = name
        converted.append(
            (name, found.what, found.config, out, summary, found.note))
    return converted, skipped


def print_folder_report(src: str,
                        dst: str,
                        converted: List[tuple],
                        skipped: List[tuple],
                        out=None) -> None:
    """Print the tables of :func:`convert_folder`.

    Args:
        src (str): The folder read.
        dst (str): The folder written.
        converted (list[tuple]): Its converted rows.
        skipped (list[tuple]): Its rows not converted.
        out (file, optional): Where to print. Default: stdout.
    """
    out = out or sys.stdout
    print(
        f'converted {len(converted)} of {len(converted) + len(skipped)} '
        f'files in {src}:',
        file=out)
    if converted:
        rows = [('file', 'recognised as', 'our config', 'wrote')]
        rows += [(f, what, config, path)
                 for f, what, config, path, _, _ in converted]
        for line in _columns(rows):
            print('  ' + line, file=out)
        for f, _, _, _, summary, note in converted:
            print(
                f'  {f}: {summary}' + (f' ({note})' if note else ''), file=out)
    if skipped:
        print('not converted:', file=out)
        for line in _columns([('file', 'why')] + skipped):
            print('  ' + line, file=out)
    if converted and osp.normpath(dst) != CHECKPOINTS:
        print(
            f'our configs read {CHECKPOINTS}/NAME from where you run them; '
            f'point a config at {dst}/NAME with --cfg-options '
            'model.backbone.init_cfg.checkpoint=... (backbones) or pass the '
            'file to tools/test.py (detectors)',
            file=out)


# ------------------------------------------------------------ command line
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert an authors' RLANet ImageNet checkpoint into an "
        'rla_mm classifier checkpoint; with --all, every one of their '
        'checkpoints (classifiers and MMDetection 2.x detectors) in a folder.')
    parser.add_argument(
        'src',
        help='reference checkpoint (.pth.tar / .pth); '
        'with --all, the folder of downloaded files')
    parser.add_argument(
        'dst',
        help='where to write the rla_mm checkpoint; '
        'with --all, the folder of the converted files')
    parser.add_argument(
        '--arch',
        metavar='ARCH',
        help='reference architecture, when the checkpoint has no "arch" '
        'entry: ' + ', '.join(rlanet.ARCHS))
    parser.add_argument(
        '--all',
        action='store_true',
        help='convert every authors\' checkpoint in the folder SRC, '
        'recognised by its content, into DST under the names our configs '
        'expect')
    return parser.parse_args(argv)


def convert_one(src: str, dst: str, arch: Optional[str],
                arch_configs: Dict[str, str]) -> List[str]:
    """Convert one reference checkpoint; return the lines to print.

    Args:
        src (str): The reference checkpoint.
        dst (str): Where to write the result.
        arch (str, optional): The arch, when the file has none.
        arch_configs (dict): :func:`classifier_configs`.
    """
    checkpoint = rlanet.load_reference(src)
    arch = rlanet.arch_of(checkpoint, src, arch)
    state_dict, _ = strip_wrapper(checkpoint)
    converted = rlanet.convert_state_dict(state_dict, arch)
    rlanet.save_converted(dst, converted, osp.basename(src), arch)
    # A shared tensor (RLA-MobileNetV2's recurrent conv) is counted once.
    lines = [
        f'converted {arch}: {len(converted)} tensors, '
        f'{parameter_count(converted):,} parameters', f'wrote {dst}'
    ]
    if arch in arch_configs:
        lines.append(f'classifier config: {arch_configs[arch]}')
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.all:
        if args.arch:
            print(
                'error: --arch names the arch of one file; --all reads each '
                "file's own",
                file=sys.stderr)
            return 1
        if not osp.isdir(args.src):
            print(
                f'error: --all reads a folder; {args.src!r} is not one',
                file=sys.stderr)
            return 1
        converted, skipped = convert_folder(args.src, args.dst)
        print_folder_report(args.src, args.dst, converted, skipped)
        return 0 if converted else 1
    try:
        lines = convert_one(args.src, args.dst, args.arch,
                            classifier_configs())
    except ConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
