"""Write the model tables of configs/README.md from configs/metafile.yml.

The metafile is the one place of the model facts; the tables are its rendering,
between ``<!-- metafile-in1k:begin -->`` and ``<!-- metafile-in1k:end -->``
(ImageNet) and ``<!-- metafile-cifar:begin/end -->`` (CIFAR, our exact counts
beside the paper's Table 2). ``tests/test_configs_cls.py`` checks that they agree.

Usage:
    python tools/analysis_tools/metafile_table.py [--out configs/README.md]
"""
import argparse
import os.path as osp

from markdown_block import replace_block

from rla_mm.configs import load_metafile

TAG = 'metafile-in1k'
CIFAR_TAG = 'metafile-cifar'
# Table 2's rows: (name, plain config stem, RLA config stem)
CIFAR_MODELS = (('ResNet-110', 'preact_resnet110', 'rla_resnet110'),
                ('ResNet-164', 'preact_resnet164', 'rla_resnet164'),
                ('Xception', 'xception', 'rla_xception'))
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


def millions(value: float, sign: str = '') -> str:
    """Decimal millions with two decimals, as Table 2 prints them."""
    return f'{value / 1e6:{sign}.2f}M'


def cifar_table() -> str:
    """Our exact CIFAR counts beside the paper's Table 2 (decimal millions).

    ``paper RLA-Net`` is Table 2's Params + ΔParams; a cell of ours that does not
    round to the paper's figure is marked with its difference.
    """
    models = load_metafile()
    rows = ['| model | data | plain (ours) | RLA-Net (ours) | ΔParams (ours) | '
            'Table 2 Params | Table 2 ΔParams | paper RLA-Net | '
            'error % Re-impl. / RLA-Net (paper) |',
            '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
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
            for ours, printed, sign in ((ours_plain, paper, ''),
                                        (ours_rla, paper + delta, ''),
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
    return '\n'.join(rows) + '\n'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'configs',
                                                  'README.md'))
    args = parser.parse_args(argv)
    replace_block(args.out, TAG, in1k_table())
    replace_block(args.out, CIFAR_TAG, cifar_table())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
