"""Regenerate one marked block of a Markdown file (docs written by the analysis tools)."""
import os.path as osp


def replace_block(path: str, tag: str, text: str) -> None:
    """Replace what lies between ``<!-- tag:begin -->`` and ``<!-- tag:end -->``.

    A missing file is created holding only the block; prose around the markers
    is kept.

    Args:
        path (str): Markdown file.
        tag (str): Name of the block.
        text (str): New content of the block.
    """
    begin, end = f'<!-- {tag}:begin -->', f'<!-- {tag}:end -->'
    if osp.isfile(path):
        with open(path) as f:
            old = f.read()
    else:
        old = f'{begin}\n{end}\n'
    if old.count(begin) != 1 or old.count(end) != 1 \
            or old.index(begin) > old.index(end):
        raise ValueError(f'{path} needs exactly one {begin} ... {end} block')
    head, rest = old.split(begin)
    tail = rest.split(end)[1]
    if not text.endswith('\n'):
        text += '\n'
    with open(path, 'w') as f:
        f.write(f'{head}{begin}\n{text}{end}{tail}')
