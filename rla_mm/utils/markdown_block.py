"""Read and rewrite one marked block of a Markdown file (the generated tables
and reports of docs/, configs/ and the README)."""
import os.path as osp
from typing import Tuple


def _markers(tag: str) -> Tuple[str, str]:
    return f'<!-- {tag}:begin -->', f'<!-- {tag}:end -->'


def _split(path: str, text: str, tag: str) -> Tuple[str, str, str]:
    """``text`` as (before the block, the block, after it); the block starts
    after the newline that ends the begin marker."""
    begin, end = _markers(tag)
    if text.count(begin) != 1 or text.count(end) != 1 \
            or text.index(begin) > text.index(end):
        raise ValueError(f'{path} needs exactly one {begin} ... {end} block')
    head, rest = text.split(begin)
    body, tail = rest.split(end)
    return head, body[1:] if body.startswith('\n') else body, tail


def read_block(path: str, tag: str) -> str:
    """What lies between ``<!-- tag:begin -->`` and ``<!-- tag:end -->``.

    Args:
        path (str): Markdown file.
        tag (str): Name of the block.
    """
    with open(path) as f:
        return _split(path, f.read(), tag)[1]


def replace_block(path: str, tag: str, text: str) -> None:
    """Replace what lies between ``<!-- tag:begin -->`` and
    ``<!-- tag:end -->``.

    A missing file is created holding only the block; prose around the markers
    is kept.

    Args:
        path (str): Markdown file.
        tag (str): Name of the block.
        text (str): New content of the block.
    """
    begin, end = _markers(tag)
    if osp.isfile(path):
        with open(path) as f:
            old = f.read()
    else:
        old = f'{begin}\n{end}\n'
    head, _, tail = _split(path, old, tag)
    if not text.endswith('\n'):
        text += '\n'
    with open(path, 'w') as f:
        f.write(f'{head}{begin}\n{text}{end}{tail}')
