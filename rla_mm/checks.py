"""Argument checks shared by the models and datasets; each error names the
argument, the bad value and what was expected.

Where MMDetection's and MMPretrain's backbones assert or raise ``KeyError``,
ours raise an exception of both classes (``error=``), so that a user's
``except AssertionError`` and our ``except ValueError`` both catch it.
"""
from typing import Optional, Sequence, Tuple, Type


class ValueAssertionError(AssertionError, ValueError):
    """A bad value where the libraries assert."""


class TypeAssertionError(AssertionError, TypeError):
    """A wrong type where the libraries assert ``isinstance``."""


class ValueKeyError(KeyError, ValueError):
    """A bad value where the libraries raise ``KeyError`` (an unknown depth).
    ``str()`` is the message, which ``KeyError`` would quote."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def check_int(name: str,
              value,
              low: int,
              high: Optional[int] = None,
              error: Type[Exception] = ValueError) -> int:
    """Return ``value`` if it is an int in [low, high]; else raise ``error``
    naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low \
            or (high is not None and value > high):
        bound = f'in [{low}, {high}]' if high is not None else f'>= {low}'
        raise error(f'{name} must be an int {bound}, got {value!r}')
    return value


def check_indices(name: str,
                  values: Sequence[int],
                  high: int,
                  error: Type[Exception] = ValueError) -> Tuple[int, ...]:
    """Return ``values`` as a non-empty tuple of ints in [0, high]."""
    values = tuple(values)
    if not values or any(
            isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= high
            for i in values):
        raise error(f'{name} must be a non-empty sequence of ints in '
                    f'[0, {high}], got {values!r}')
    return values


def check_choice(name: str,
                 value,
                 choices: Sequence,
                 error: Type[Exception] = ValueError):
    """Return ``value`` if it is one of ``choices``; else raise ``error``
    naming ``name``."""
    if value not in tuple(choices):
        raise error(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool; else raise naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return value


def check_odd(name: str, value) -> int:
    """Return ``value`` if it is a positive odd int; else raise naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 \
            or value % 2 == 0:
        raise ValueError(f'{name} must be a positive odd int, got {value!r}')
    return value


def check_type(name: str, value, types, error: Type[Exception] = TypeError):
    """Return ``value`` if it is an instance of ``types``; else raise
    ``error`` naming ``name``."""
    if not isinstance(value, types):
        names = [
            t.__name__
            for t in (types if isinstance(types, tuple) else (types, ))
        ]
        raise error(f'{name} must be {" or ".join(names)}, got {value!r}')
    return value
