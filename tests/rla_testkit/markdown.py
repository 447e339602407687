"""The commands and paths that the README and docs/ quote, as tests read them.
"""
import re
import shlex
from typing import Dict, List, Tuple

FENCE = re.compile(r'^```(\w*)\n(.*?)^```', re.M | re.S)
SHELLS = ('bash', 'sh', 'shell')


def code_blocks(text: str) -> List[Tuple[int, str, str]]:
    """(line number of the block's first line, language, text) of every fenced
    code block of a Markdown text."""
    return [(text.count('\n', 0, m.start()) + 2, m.group(1), m.group(2))
            for m in FENCE.finditer(text)]


def shell_commands(block: str, first_line: int) -> List[Tuple[int, str]]:
    """(line number, command) of a shell block: continuations joined, comments
    (whole-line and trailing) and blank lines dropped."""
    commands, current, start = [], '', 0
    for i, line in enumerate(block.splitlines()):
        line = re.sub(r'(^|\s)#.*$', '', line).rstrip()
        if not current and not line.strip():
            continue
        if not current:
            start = first_line + i
        if line.endswith('\\'):
            current += line[:-1].strip() + ' '
            continue
        commands.append((start, (current + line.strip()).strip()))
        current = ''
    assert not current, f'line {start}: a command ends in a backslash'
    return commands


def all_shell_commands(text: str) -> List[Tuple[int, str]]:
    """(line number, command) of every shell block of a Markdown text, in
    order."""
    return [
        command for first, lang, block in code_blocks(text) if lang in SHELLS
        for command in shell_commands(block, first)
    ]


def split_env(command: str) -> Tuple[Dict[str, str], List[str]]:
    """Leading VAR=value words and the rest of a command's words."""
    words = shlex.split(command)
    env = {}
    while words and re.match(r'^[A-Z_][A-Z0-9_]*=', words[0]):
        key, value = words.pop(0).split('=', 1)
        env[key] = value
    return env, words
