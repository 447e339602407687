"""Every repository path that README.md and docs/*.md quote exists.

A repository path is a word of a code span, a code block or a link target whose
first component is a top-level folder or file of the checkout that git tracks
(``configs/``, ``tools/``, ``rla_mm/``, ``setup.py`` ...); link targets of
docs/ are relative to docs/. What commands write and placeholders are not
repository paths: ``work_dirs/``, ``checkpoints/``, ``data/``, ``outputs/`` and
``rla_mm/.mim/`` are not tracked (``.gitignore``), and a path with an
upper-case name in it (``DOWNLOADS/``, ``configs/CONFIG.py``) is a placeholder.
A pattern (``tools/dist_*.sh``, ``requirements/{deps,tests}.txt``) must match a
file.
"""
import fnmatch
import glob
import os
import os.path as osp
import re
from typing import Iterator, List, Tuple

import pytest
from rla_testkit.checkout import REPO_ROOT

DOCS = ['README.md'] + sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'docs', '*.md')))
FENCE = re.compile(r'^```.*?^```', re.M | re.S)
CODE_SPAN = re.compile(r'`([^`\n]+)`')
LINK = re.compile(r'\]\(([^)\s]+)\)')
# upper-case names that are real files, not placeholders
REAL_UPPER = ('README', 'LICENSE', 'CHANGELOG')


def ignored() -> List[str]:
    """The patterns of .gitignore."""
    with open(osp.join(REPO_ROOT, '.gitignore')) as f:
        return [
            line.strip() for line in f
            if line.strip() and not line.startswith('#')
        ]


def is_ignored(path: str, patterns: List[str]) -> bool:
    for pattern in patterns:
        anchored = pattern.startswith('/')
        pattern = pattern.strip('/')
        if anchored or '/' in pattern:
            if fnmatch.fnmatch(path,
                               pattern) or path.startswith(pattern + '/'):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in path.split('/')):
            return True
    return False


def top_level() -> set:
    """The checkout's top-level folders and files that git does not
    ignore."""
    patterns = ignored()
    return {
        name
        for name in os.listdir(REPO_ROOT)
        if name != '.git' and not is_ignored(name, patterns)
    }


def words(text: str) -> Iterator[str]:
    """The words of a code span or block that may be paths (a ``{a,b}``
    pattern is one word)."""
    text = re.sub(r'\{[^{}\s]*\}', lambda m: m.group(0).replace(',', '\0'),
                  text)
    for word in re.split(r'[\s=,;()\[\]<>"\']+', text):
        word = word.replace('\0', ',')
        word = re.sub(r':\d+$', '', word.rstrip('.:'))
        if '/' in word:
            yield word


def quoted(doc: str) -> Iterator[Tuple[int, str]]:
    """(line, path relative to the checkout) of every path-like word of
    ``doc``'s code blocks, code spans and link targets."""
    with open(osp.join(REPO_ROOT, doc)) as f:
        text = f.read()

    def line_of(pos: int) -> int:
        return text.count('\n', 0, pos) + 1

    prose = text  # the text outside code blocks, at the same offsets
    for block in FENCE.finditer(text):
        for word in words(block.group(0)):
            yield line_of(block.start()), word
        prose = (
            prose[:block.start()] + re.sub(r'[^\n]', ' ', block.group(0)) +
            prose[block.end():])
    for span in CODE_SPAN.finditer(prose):
        for word in words(span.group(1)):
            yield line_of(span.start()), word
    for link in LINK.finditer(prose):
        target = link.group(1).split('#')[0]
        if not target or re.match(r'^[a-z]+:', target):
            continue
        path = osp.normpath(osp.join(osp.dirname(doc), target))
        yield line_of(link.start()), path


def expand_braces(path: str) -> List[str]:
    found = re.search(r'\{([^{}]*)\}', path)
    if not found:
        return [path]
    return [
        p for choice in found.group(1).split(',')
        for p in expand_braces(path[:found.start()] + choice +
                               path[found.end():])
    ]


def placeholder(path: str) -> bool:
    return any(
        re.fullmatch(r'[A-Z][A-Z0-9_]*',
                     part.split('.')[0])
        and part.split('.')[0] not in REAL_UPPER for part in path.split('/')
        if part)


def exists(path: str) -> bool:
    return all(
        glob.glob(osp.join(REPO_ROOT, p), recursive=True)
        for p in expand_braces(path))


@pytest.mark.parametrize('doc', DOCS)
def test_every_repository_path_a_doc_quotes_exists(doc):
    tops, patterns = top_level(), ignored()
    missing = []
    for line, path in quoted(doc):
        path = path[2:] if path.startswith('./') else path
        if path.split('/')[0] not in tops or placeholder(path) \
                or is_ignored(path, patterns):
            continue
        if not exists(path):
            missing.append(f'{doc}:{line}: {path}')
    assert not missing, 'paths that do not exist:\n' + '\n'.join(missing)


def test_placeholders_and_outputs_are_not_repository_paths():
    patterns = ignored()
    assert placeholder('DOWNLOADS/x.pth') and placeholder('configs/CONFIG.py')
    assert not placeholder('configs/README.md')
    assert is_ignored('work_dirs/x/epoch_12.pth', patterns)
    assert is_ignored('rla_mm/.mim/tools', patterns)
    assert is_ignored('.venv/bin/python', patterns)
    assert {'rla_mm', 'tools', 'configs', 'docs', 'setup.py'} <= top_level()
    assert not {'work_dirs', 'checkpoints', 'data', '.venv'} & top_level()
    assert list(words('tools/test.py:12, (rla_mm/x.py). a/{b,c}.py')) == [
        'tools/test.py', 'rla_mm/x.py', 'a/{b,c}.py'
    ]
    assert expand_braces('requirements/{deps,tests}.txt') == [
        'requirements/deps.txt', 'requirements/tests.txt'
    ]
