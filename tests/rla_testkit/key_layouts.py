"""Recorded checkpoint layouts that a failing test can compare key by key.

A layout is the sorted ``key`` or ``key (shape)`` lines of a state dict. The
fixtures (``fixtures/reference_layouts.json``, ``fixtures/backbone_keys.json``)
keep a hash of them and, to name what changed, the lines themselves, compacted:
keys that differ in one index only, with the same shape, are one line with the
indices in braces, ``layer3.{1-22}.conv1.weight (256, 1056, 1, 1)``.
:func:`expand` gives the lines back; :func:`difference` says which keys were
added, removed or reshaped.
"""
import hashlib
import itertools
import re
from typing import Dict, Iterable, List, Optional, Tuple

_LINE = re.compile(r'^(\S+)(?: \((.*)\))?$')


def lines_of(state_dict, shapes: bool = True) -> List[str]:
    """The sorted layout lines of ``state_dict`` (a dict of tensors or a list
    of keys, which has no shapes)."""
    if not shapes or not isinstance(state_dict, dict):
        return sorted(state_dict)
    return sorted(f'{k} {tuple(v.shape)}' for k, v in state_dict.items())


def sha(lines: Iterable[str]) -> str:
    """The hash the fixtures record: sha256 of the sorted lines, 16 digits."""
    return hashlib.sha256('\n'.join(sorted(lines)).encode()).hexdigest()[:16]


def _ranges(numbers) -> str:
    numbers, parts = sorted(numbers), []
    for _, run in itertools.groupby(enumerate(numbers), lambda p: p[1] - p[0]):
        run = [n for _, n in run]
        parts.append(str(run[0]) if len(run) == 1 else f'{run[0]}-{run[-1]}')
    return parts[0] if len(numbers) == 1 else '{' + ','.join(parts) + '}'


def compact(lines: Iterable[str]) -> List[str]:
    """Layout lines, those that differ in one index only joined, sorted."""
    items = []  # (tokens, shape): a token is a string or a frozenset of ints
    for line in lines:
        key, shape = _LINE.match(line).groups()
        items.append((tuple(
            frozenset([int(t)]) if t.isdigit() else t
            for t in key.split('.')), shape))
    for position in range(
            max((len(t) for t, _ in items), default=0) - 1, -1, -1):
        merged: Dict[tuple, set] = {}
        rest = []
        for tokens, shape in items:
            if position < len(tokens) and isinstance(tokens[position],
                                                     frozenset):
                group = (tokens[:position], tokens[position + 1:], shape)
                merged.setdefault(group, set()).update(tokens[position])
            else:
                rest.append((tokens, shape))
        items = rest + [(head + (frozenset(numbers), ) + tail, shape)
                        for (head, tail, shape), numbers in merged.items()]

    def render(tokens, shape):
        key = '.'.join(
            _ranges(t) if isinstance(t, frozenset) else t for t in tokens)
        return key if shape is None else f'{key} ({shape})'

    return sorted(render(*item) for item in items)


def _numbers(token: str) -> List[int]:
    if not token.startswith('{'):
        return [int(token)]
    out = []
    for part in token[1:-1].split(','):
        first, _, last = part.partition('-')
        out.extend(range(int(first), int(last or first) + 1))
    return out


def expand(compacted: Iterable[str]) -> List[str]:
    """The layout lines that :func:`compact` joined, sorted."""
    lines = []
    for line in compacted:
        key, shape = _LINE.match(line).groups()
        choices = [[t] if not (t.isdigit() or t.startswith('{')) else
                   [str(n) for n in _numbers(t)] for t in key.split('.')]
        for tokens in itertools.product(*choices):
            lines.append('.'.join(tokens) +
                         ('' if shape is None else f' ({shape})'))
    return sorted(lines)


def _shapes(lines: Iterable[str]) -> Dict[str, Optional[str]]:
    return dict(_LINE.match(line).groups() for line in lines)


def difference(actual_lines: Iterable[str],
               recorded_lines: Iterable[str],
               limit: int = 30) -> str:
    """Which keys the actual layout adds, removes and reshapes against the
    recorded one, in a few lines for an assertion message."""
    actual, recorded = _shapes(actual_lines), _shapes(recorded_lines)
    groups: Tuple[Tuple[str, List[str]], ...] = (
        ('added', compact(k for k in actual if k not in recorded)),
        ('removed', compact(k for k in recorded if k not in actual)),
        ('reshaped', [
            f'{k} ({recorded[k]}) -> ({actual[k]})' for k in sorted(actual)
            if k in recorded and actual[k] != recorded[k]
        ]),
    )
    text = [
        f'{name} ({len(keys)}): ' + ', '.join(keys[:limit]) +
        (' ...' if len(keys) > limit else '') for name, keys in groups if keys
    ]
    return '; '.join(text) or 'the same keys and shapes'
