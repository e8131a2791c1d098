"""The errors deepcnt raises for user mistakes: one line that says what is wrong and what to do."""


class DeepcntError(Exception):
    """Base class of every error deepcnt raises on purpose."""


class InputError(DeepcntError, ValueError):
    """Bad input: wrong shape, NaN/inf weights, bad parameter value, empty graph."""


class DeviceError(DeepcntError, RuntimeError):
    """A device was asked for that this machine does not have."""


class UnknownMetricError(DeepcntError, KeyError):
    """A metric name that is not in the registry."""

    def __str__(self):  # KeyError quotes its message; keep it one plain line
        return str(self.args[0]) if self.args else ""


class StorageError(DeepcntError, OSError):
    """A file could not be written: a full disk, a read-only directory, no permission."""


def check_choice(name, value, allowed):
    """Raise one :class:`InputError` unless ``value`` is one of ``allowed``: "unknown NAME VALUE: use one of
    ...". The one choice check of deepcnt's public functions."""
    if value not in allowed:
        raise InputError(f"unknown {name} {value!r}: use one of {', '.join(map(repr, allowed))}")


def renamed(func, old, new, old_value, new_value):
    """The value of a parameter renamed from ``old`` to ``new``: ``new_value``, or ``old_value`` (with a
    ``DeprecationWarning`` naming the new spelling) when only the old keyword was given."""
    if old_value is None:
        return new_value
    import os
    import sys
    import warnings

    here, level, frame = os.path.dirname(os.path.abspath(__file__)), 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(here):  # point at the caller's line
        frame, level = frame.f_back, level + 1
    warnings.warn(f"{func}({old}=...) is now {func}({new}=...); the old name will be removed",
                  DeprecationWarning, stacklevel=level)
    return old_value

