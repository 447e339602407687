"""Write every generated table of the README and the docs from the metafiles.

The metafiles are the one place of the model facts; each table is their
rendering, between ``<!-- TAG:begin -->`` and ``<!-- TAG:end -->`` in one
Markdown file, and prose around the markers is kept. A table is one function
that returns its Markdown, registered with ``@table(TAG, FILE)``::

    @table('my-table', 'docs/my_topic.md')
    def my_table() -> str:
        return '| a | b |\\n| --- | --- |\\n| 1 | 2 |\\n'

The tests hold each file to its tables (``tests/unit/test_doc_tables.py``), so
an edit of a metafile that is not written out here fails them, naming the
command.

Usage:
    python .dev_scripts/doc_tables.py
        # write every table
    python .dev_scripts/doc_tables.py TAG [TAG ...]
        # write these
    python .dev_scripts/doc_tables.py --check
        # list the tables out of date
"""
import argparse
import os.path as osp
import sys
from typing import Callable, Dict, Iterator, List, NamedTuple, Tuple

from rla_mm.configs import (ABLATION_METAFILE, CLS_METAFILE, DET_METAFILE,
                            load_metafile, paper_figure)
from rla_mm.utils.markdown_block import read_block, replace_block

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class Table(NamedTuple):
    """A generated table: where it goes (relative to the checkout) and its
    writer."""
    path: str
    render: Callable[[], str]


#: tag -> Table, in the order they are written.
TABLES: Dict[str, Table] = {}


def table(tag: str, path: str):
    """Function decorator: ``fn()`` writes the block ``tag`` of ``path``.

    Args:
        tag (str): The block's marker name.
        path (str): The Markdown file, relative to the checkout.
    """

    def register(fn: Callable[[], str]) -> Callable[[], str]:
        if tag in TABLES:
            raise ValueError(f'table {tag!r} is registered twice')
        TABLES[tag] = Table(path, fn)
        return fn

    return register


def stale_tables(root: str = REPO_ROOT) -> List[str]:
    """The tags whose block in its file differs from what its function writes.

    Args:
        root (str): The checkout.
    """
    return [
        tag for tag, (path, render) in TABLES.items()
        if read_block(osp.join(root, path), tag) != render()
    ]


# configs/README.md: the classifiers (configs/metafile.yml)

# Table 2's rows: (name, plain config stem, RLA config stem)
CIFAR_MODELS = (('ResNet-110', 'preact_resnet110', 'rla_resnet110'),
                ('ResNet-164', 'preact_resnet164',
                 'rla_resnet164'), ('Xception', 'xception', 'rla_xception'))


def flops_text(flops: int) -> str:
    """FLOPs in the paper's units: G = 2^30, below 1G M = 2^20."""
    if flops >= 2**30:
        return f'{flops / 2**30:.2f}G'
    return f'{flops / 2**20:.1f}M'


def _models(metafile: str, suffix: str) -> Iterator[Tuple[str, dict, dict]]:
    """(config name, entry, its ``Metadata``) of the metafile's models whose
    config ends with ``suffix``, in the metafile's order."""
    for name, model in load_metafile(metafile).items():
        if name.endswith(suffix):
            yield name, model, model['Metadata']


def _rows(header: str, rows: List[str]) -> str:
    """A Markdown table: the header row, its rule and the rows."""
    rule = '|' + ' --- |' * (header.count('|') - 1)
    return '\n'.join([header, rule, *rows]) + '\n'


@table('metafile-in1k', 'configs/README.md')
def in1k_table() -> str:
    """The ImageNet-1k models of the metafile."""
    rows = []
    for name, model, meta in _models(CLS_METAFILE, '_in1k.py'):
        metrics = model['Results'][0]['Metrics']
        mark = ' †' if 'tricks' in name else ''
        rows.append(
            f"| [{model['Name']}]({name}){mark} | {meta['Parameters']:,} | "
            f"{flops_text(meta['FLOPs'])} | {metrics['Top 1 Accuracy']:.2f} | "
            f"{metrics['Top 5 Accuracy']:.2f} |")
    return _rows('| config | params | FLOPs | top-1 | top-5 |', rows)


def millions(value: float, sign: str = '') -> str:
    """Decimal millions with two decimals, as Table 2 prints them."""
    return f'{value / 1e6:{sign}.2f}M'


@table('metafile-cifar', 'configs/README.md')
def cifar_table() -> str:
    """Our exact CIFAR counts beside the paper's Table 2 (decimal millions).

    ``paper RLA-Net`` is Table 2's Params + ΔParams; a cell of ours that does
    not round to the paper's figure is marked with its difference.
    """
    models = load_metafile(CLS_METAFILE)
    rows = []
    for data, short in (('cifar10', 'C-10'), ('cifar100', 'C-100')):
        for label, plain_stem, rla_stem in CIFAR_MODELS:
            plain_cfg = f'{plain_stem}_1xb128_{data}.py'
            rla_cfg = f'{rla_stem}_1xb128_{data}.py'
            plain, rla = models[plain_cfg], models[rla_cfg]
            ours_plain = plain['Metadata']['Parameters']
            ours_rla = rla['Metadata']['Parameters']
            paper = float(plain['Metadata']['Table 2 Params'][:-1])
            delta = float(rla['Metadata']['Table 2 Delta Params'][:-1])
            cells = []
            for ours, printed, sign in ((ours_plain, paper,
                                         ''), (ours_rla, paper + delta, ''),
                                        (ours_rla - ours_plain, delta, '+')):
                text = f'{ours:,} = {millions(ours, sign)}'
                if round(ours / 1e6, 2) != round(printed, 2):
                    text += f' (≠ {printed:{sign}.2f}M)'
                cells.append(text)
            errors = ' / '.join(
                f"{100 - m['Results'][0]['Metrics']['Top 1 Accuracy']:.2f}"
                for m in (plain, rla))
            rows.append(
                f'| {label} | {short} | [{cells[0]}]({plain_cfg}) | '
                f'[{cells[1]}]({rla_cfg}) | {cells[2]} | {paper:.2f}M | '
                f'{delta:+.2f}M | {paper + delta:.2f}M | {errors} |')
    return _rows(
        '| model | data | plain (ours) | RLA-Net (ours) | '
        'ΔParams (ours) | Table 2 Params | Table 2 ΔParams | '
        'paper RLA-Net | error % Re-impl. / RLA-Net (paper) |', rows)


# configs/ablation/README.md: the ablation models (paper Tables 6, 11, 13, 15)


def _error(model: dict, metric: str) -> str:
    if not model['Results']:
        return '-'
    return f"{100 - model['Results'][0]['Metrics'][metric]:.2f}"


@table('ablation-in1k', 'configs/ablation/README.md')
def ablation_in1k_table() -> str:
    """ImageNet rows: exact count, ours and the paper's in M = 2^20."""
    rows = []
    for name, model, meta in _models(ABLATION_METAFILE, '_in1k.py'):
        paper = paper_figure(meta.get('Paper Params'))
        rows.append(f"| {meta['Table Row']} | [{model['Name']}]({name}) | "
                    f"`{meta['Reference Arch']}` | {meta['Parameters']:,} | "
                    f"{meta['Parameters'] / 2**20:.2f} | "
                    f"{'-' if paper is None else f'{paper / 2**20:.2f}'} | "
                    f"{_error(model, 'Top 1 Accuracy')} / "
                    f"{_error(model, 'Top 5 Accuracy')} |")
    return _rows(
        '| Table 6 / 15 row | config | reference arch | params | '
        'ours (M) | paper (M) | paper top-1 / top-5 err |', rows)


@table('ablation-cifar', 'configs/ablation/README.md')
def ablation_cifar_table() -> str:
    """CIFAR-10 rows: exact count, ours and the paper's in decimal millions."""
    rows = []
    for name, model, meta in _models(ABLATION_METAFILE, '_cifar10.py'):
        rows.append(
            f"| {meta['Table Row']} | [{model['Name']}]({name}) | "
            f"{meta['Parameters']:,} | {meta['Parameters'] / 1e6:.2f} | "
            f"{meta['Paper Params (decimal M)']:.2f} | "
            f"{_error(model, 'Top 1 Accuracy')} |")
    return _rows(
        '| Table 11 / 13 row | config | params | ours (M) | '
        'paper (M) | paper error |', rows)


# docs/weights.md: the authors' published detectors (configs/metafile_det.yml)

DET_CONVERTER = 'tools/model_converters/mmdet2_rla_to_rla_mm.py'
# metafile keys -> the table's columns
DET_METRICS = (('box AP', 'AP'), ('box AP@0.5', 'AP50'), ('box AP@0.75',
                                                          'AP75'))


def load_published() -> List[dict]:
    """The published detectors of the detection metafile, in its order.

    Each is a dict with ``Config``, ``Checkpoint``, ``AP``, ``AP50``, ``AP75``
    (the checkpoint's figures) and ``Paper`` (the paper's figures that differ).
    """
    entries = []
    for model in load_metafile(DET_METAFILE).values():
        meta = model['Metadata']
        box = next(r['Metrics'] for r in model['Results']
                   if r['Task'] == 'Object Detection')
        entries.append(
            dict(
                Config=model['Config'],
                Checkpoint=meta['Published Checkpoint'],
                **{
                    column: box[key]
                    for key, column in DET_METRICS
                },
                Paper={
                    column: meta[f'Paper {key}']
                    for key, column in DET_METRICS if f'Paper {key}' in meta
                }))
    return entries


def converted_name(entry: dict) -> str:
    """Where the table's command writes the converted checkpoint."""
    return 'checkpoints/' + osp.splitext(osp.basename(entry['Config']))[0] \
        + '.pth'


@table('published-detectors', 'docs/weights.md')
def published_detectors_table() -> str:
    """The published detectors, the command that converts each, and the notes
    on figures that differ from the paper (links relative to ``docs/``)."""
    rows, notes = [], []
    for e in load_published():
        figures = ' | '.join(f'{e[k]:.1f}' +
                             ('*' if k in e.get('Paper', {}) else '')
                             for k in ('AP', 'AP50', 'AP75'))
        rows.append(f"| `{e['Checkpoint']}` | [`{osp.basename(e['Config'])}`]"
                    f"(../{e['Config']}) | "
                    f"`python {DET_CONVERTER} {e['Checkpoint']}.pth "
                    f"{converted_name(e)}` | {figures} |")
        for key, paper in e.get('Paper', {}).items():
            notes.append(f"{e['Checkpoint']}: {key} {e[key]:.1f} in the "
                         f"authors' README, {paper:.1f} in the paper")
    text = _rows(
        "| authors' checkpoint | our config | convert with | AP | "
        'AP50 | AP75 |', rows)
    if notes:
        text += ('\n\\* differs from the paper\'s Table 4/5: ' +
                 '; '.join(notes) +
                 '. Every other figure is the same in both.')
    text += (' The authors\' README gives no mask AP; the paper\'s is in the '
             'README\'s COCO table.\n')
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'tags',
        nargs='*',
        metavar='TAG',
        help=f'tables to write (default: all of {list(TABLES)})')
    parser.add_argument(
        '--check',
        action='store_true',
        help='write nothing; exit 1 naming the tables whose '
        'block differs from the metafiles')
    parser.add_argument(
        '--root',
        default=REPO_ROOT,
        help='the checkout whose files are written')
    args = parser.parse_args(argv)
    unknown = [t for t in args.tags if t not in TABLES]
    if unknown:
        parser.error(f'unknown table(s) {unknown}; expected some of '
                     f'{list(TABLES)}')
    if args.check:
        stale = stale_tables(args.root)
        for tag in stale:
            print(
                f'{TABLES[tag].path}: table {tag} is out of date; run '
                f'python .dev_scripts/doc_tables.py {tag}',
                file=sys.stderr)
        return 1 if stale else 0
    for tag in args.tags or TABLES:
        path, render = TABLES[tag]
        replace_block(osp.join(args.root, path), tag, render())
        print(f'wrote {tag} in {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
