"""Write README.md's "Published detectors" table from configs/metafile_det.yml.

The detection metafile is the one place of the authors' detector figures (each
entry's ``Published Checkpoint``, its ``Results`` and, where the paper differs,
``Paper box AP`` and the like in ``Metadata``); the table is its rendering, between ``<!-- published-detectors:begin -->`` and
``<!-- published-detectors:end -->``. ``tests/test_convert_mmdet2.py`` checks that
the two agree.

Usage:
    python tools/analysis_tools/published_detectors_table.py [--out README.md]
"""
import argparse
import os.path as osp
from typing import List

from markdown_block import replace_block

TAG = 'published-detectors'
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONVERTER = 'tools/model_converters/mmdet2_rla_to_rla_mm.py'
# metafile keys -> the table's columns
METRICS = (('box AP', 'AP'), ('box AP@0.5', 'AP50'), ('box AP@0.75', 'AP75'))


def load_published() -> List[dict]:
    """The published detectors of ``configs/metafile_det.yml``, in its order.

    Each is a dict with ``Config``, ``Checkpoint``, ``AP``, ``AP50``, ``AP75``
    (the checkpoint's figures) and ``Paper`` (the paper's figures that differ).
    """
    from rla_mm.configs import DET_METAFILE, load_metafile
    entries = []
    for model in load_metafile(DET_METAFILE).values():
        meta = model['Metadata']
        box = next(r['Metrics'] for r in model['Results']
                   if r['Task'] == 'Object Detection')
        entries.append(dict(
            Config=model['Config'], Checkpoint=meta['Published Checkpoint'],
            **{column: box[key] for key, column in METRICS},
            Paper={column: meta[f'Paper {key}'] for key, column in METRICS
                   if f'Paper {key}' in meta}))
    return entries


def converted_name(entry: dict) -> str:
    """Where the table's command writes the converted checkpoint."""
    return 'checkpoints/' + osp.splitext(osp.basename(entry['Config']))[0] \
        + '.pth'


def table(entries: List[dict]) -> str:
    """The Markdown table and the notes on figures that differ from the paper."""
    rows = ['| authors\' checkpoint | our config | convert with | AP | AP50 | AP75 |',
            '| --- | --- | --- | --- | --- | --- |']
    notes = []
    for e in entries:
        figures = ' | '.join(f'{e[k]:.1f}' + ('*' if k in e.get('Paper', {})
                                              else '')
                             for k in ('AP', 'AP50', 'AP75'))
        rows.append(
            f"| `{e['Checkpoint']}` | [`{osp.basename(e['Config'])}`]"
            f"({e['Config']}) | `python {CONVERTER} {e['Checkpoint']}.pth "
            f"{converted_name(e)}` | {figures} |")
        for key, paper in e.get('Paper', {}).items():
            notes.append(f"{e['Checkpoint']}: {key} {e[key]:.1f} in the "
                         f"authors' README, {paper:.1f} in the paper")
    text = '\n'.join(rows) + '\n'
    if notes:
        text += ('\n\\* differs from the paper\'s Table 4/5: ' + '; '.join(notes)
                 + '. Every other figure is the same in both.')
    text += (' The authors\' README gives no mask AP; the paper\'s is in the '
             'table above.\n')
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'README.md'))
    args = parser.parse_args(argv)
    replace_block(args.out, TAG, table(load_published()))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
