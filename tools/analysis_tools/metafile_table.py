"""Write the ImageNet table of configs/README.md from configs/metafile.yml.

The metafile is the one place of the model facts; the table is its rendering,
between ``<!-- metafile-in1k:begin -->`` and ``<!-- metafile-in1k:end -->``.
``tests/test_configs_cls.py`` checks that the two agree.

Usage:
    python tools/analysis_tools/metafile_table.py [--out configs/README.md]
"""
import argparse
import os.path as osp

from markdown_block import replace_block

from rla_mm.configs import load_metafile

TAG = 'metafile-in1k'
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def flops_text(flops: int) -> str:
    """FLOPs in the paper's units: G = 2^30, below 1G M = 2^20."""
    if flops >= 2**30:
        return f'{flops / 2**30:.2f}G'
    return f'{flops / 2**20:.1f}M'


def in1k_table() -> str:
    """The Markdown table of the ImageNet-1k models of the metafile."""
    rows = ['| config | params | FLOPs | top-1 | top-5 |',
            '| --- | --- | --- | --- | --- |']
    for name, model in load_metafile().items():
        if not name.endswith('_in1k.py'):
            continue
        meta = model['Metadata']
        metrics = model['Results'][0]['Metrics']
        mark = ' †' if 'tricks' in name else ''
        rows.append(
            f"| [{model['Name']}]({name}){mark} | {meta['Parameters']:,} | "
            f"{flops_text(meta['FLOPs'])} | {metrics['Top 1 Accuracy']:.2f} | "
            f"{metrics['Top 5 Accuracy']:.2f} |")
    return '\n'.join(rows) + '\n'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'configs',
                                                  'README.md'))
    args = parser.parse_args(argv)
    replace_block(args.out, TAG, in1k_table())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
