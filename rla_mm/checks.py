"""Argument checks shared by the models and datasets; each error names the
argument, the bad value and what was expected."""
from typing import Optional, Sequence, Tuple


def check_int(name: str, value, low: int, high: Optional[int] = None) -> int:
    """Return ``value`` if it is an int in [low, high]; else raise naming
    ``name``.

    Args:
        name (str): Argument name for the message.
        value: The value to check.
        low (int): Smallest allowed value.
        high (int, optional): Largest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low \
            or (high is not None and value > high):
        bound = f'in [{low}, {high}]' if high is not None else f'>= {low}'
        raise ValueError(f'{name} must be an int {bound}, got {value!r}')
    return value


def check_indices(name: str, values: Sequence[int],
                  high: int) -> Tuple[int, ...]:
    """Return ``values`` as a non-empty tuple of ints in [0, high].

    Args:
        name (str): Argument name for the message.
        values (Sequence[int]): The indices to check.
        high (int): Largest allowed index.
    """
    values = tuple(values)
    if not values or any(
            isinstance(i, bool) or not isinstance(i, int) or not 0 <= i <= high
            for i in values):
        raise ValueError(f'{name} must be a non-empty sequence of ints in '
                         f'[0, {high}], got {values!r}')
    return values


def check_choice(name: str, value, choices: Sequence):
    """Return ``value`` if it is one of ``choices``; else raise naming
    ``name``.

    Args:
        name (str): Argument name for the message.
        value: The value to check.
        choices (Sequence): The allowed values.
    """
    if value not in tuple(choices):
        raise ValueError(f'{name} must be one of {tuple(choices)}, '
                         f'got {value!r}')
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a bool; else raise naming ``name``.

    Args:
        name (str): Argument name for the message.
        value: The value to check.
    """
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return value


def check_odd(name: str, value) -> int:
    """Return ``value`` if it is a positive odd int; else raise naming
    ``name``.

    Args:
        name (str): Argument name for the message.
        value: The value to check.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 \
            or value % 2 == 0:
        raise ValueError(f'{name} must be a positive odd int, got {value!r}')
    return value


def check_type(name: str, value, types):
    """Return ``value`` if it is an instance of ``types``; else raise naming
    ``name``.

    Args:
        name (str): Argument name for the message.
        value: The value to check.
        types (type | tuple[type]): The allowed types.
    """
    if not isinstance(value, types):
        names = [
            t.__name__
            for t in (types if isinstance(types, tuple) else (types, ))
        ]
        raise TypeError(f'{name} must be {" or ".join(names)}, got {value!r}')
    return value
