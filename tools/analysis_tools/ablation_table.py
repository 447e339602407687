"""Write the count tables of configs/ablation/README.md from its metafile.

``configs/ablation/metafile.yml`` is the one place of the ablation models' facts;
the ImageNet table (paper Tables 6 and 15, parameters in the paper's unit 2^20) and
the CIFAR-10 table (Tables 11 and 13, decimal millions) are its rendering, between
``<!-- ablation-in1k:begin -->`` / ``<!-- ablation-in1k:end -->`` and the
``ablation-cifar`` markers. ``tests/test_ablation.py`` checks that they agree.

Usage:
    python tools/analysis_tools/ablation_table.py [--out configs/ablation/README.md]
"""
import argparse
import os.path as osp

from markdown_block import replace_block

from rla_mm.configs import ABLATION_METAFILE, load_metafile, paper_figure

METAFILE = ABLATION_METAFILE
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _error(model: dict, metric: str) -> str:
    if not model['Results']:
        return '-'
    return f"{100 - model['Results'][0]['Metrics'][metric]:.2f}"


def in1k_table() -> str:
    """ImageNet rows: exact count, ours and the paper's in M = 2^20."""
    rows = ['| Table 6 / 15 row | config | reference arch | params | '
            'ours (M) | paper (M) | paper top-1 / top-5 err |',
            '| --- | --- | --- | --- | --- | --- | --- |']
    for name, model in load_metafile(METAFILE).items():
        if not name.endswith('_in1k.py'):
            continue
        meta = model['Metadata']
        paper = paper_figure(meta.get('Paper Params'))
        rows.append(
            f"| {meta['Table Row']} | [{model['Name']}]({name}) | "
            f"`{meta['Reference Arch']}` | {meta['Parameters']:,} | "
            f"{meta['Parameters'] / 2**20:.2f} | "
            f"{'-' if paper is None else f'{paper / 2**20:.2f}'} | "
            f"{_error(model, 'Top 1 Accuracy')} / "
            f"{_error(model, 'Top 5 Accuracy')} |")
    return '\n'.join(rows) + '\n'


def cifar_table() -> str:
    """CIFAR-10 rows: exact count, ours and the paper's in decimal millions."""
    rows = ['| Table 11 / 13 row | config | params | ours (M) | paper (M) | '
            'paper error |', '| --- | --- | --- | --- | --- | --- |']
    for name, model in load_metafile(METAFILE).items():
        if not name.endswith('_cifar10.py'):
            continue
        meta = model['Metadata']
        rows.append(
            f"| {meta['Table Row']} | [{model['Name']}]({name}) | "
            f"{meta['Parameters']:,} | {meta['Parameters'] / 1e6:.2f} | "
            f"{meta['Paper Params (decimal M)']:.2f} | "
            f"{_error(model, 'Top 1 Accuracy')} |")
    return '\n'.join(rows) + '\n'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'configs',
                                                  'ablation', 'README.md'))
    args = parser.parse_args(argv)
    replace_block(args.out, 'ablation-in1k', in1k_table())
    replace_block(args.out, 'ablation-cifar', cifar_table())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
