"""Which epoch each checkpoint of a folder holds: the rules behind ``deepcnt ingest --epoch-from``.

Sources of an epoch, per checkpoint:

* **recorded** in the checkpoint: the ``epoch`` / ``global_step`` entries of a dict checkpoint (PyTorch
  Lightning, most hand-written loops), the ``epoch`` / ``global_step`` of a Hugging Face ``checkpoint-N/``
  folder's ``trainer_state.json``, or the same keys in a ``.safetensors`` header's metadata;
* **named**: the number labelled ``epoch`` in the name (``epoch=1-step=45.ckpt``, ``epoch01-val_loss0.83.pt``,
  ``model_epoch_012.pt``); else the one unlabelled integer that differs between the files (Keras'
  ``weights.01-0.83.pt``: ``0.83`` is a decimal, a metric; ``run3_ckpt_12.pt``: ``3`` is the same in every
  name). ``step=45`` / ``global_step45`` and Hugging Face's ``checkpoint-45/`` name training steps.

Modes (:data:`EPOCH_FROM`): ``auto`` (recorded, else named; refuses where the two disagree), ``checkpoint``,
``name``, ``step`` (the training step, recorded or named, as the entry number) and ``order`` (natural name order
→ 0, 1, 2, ...). Whatever stays ambiguous (two checkpoints mapping to one epoch, a name with two candidate
numbers, a mid-epoch checkpoint) is refused with one line that names the files and the option to use.
Pure Python: the caller reads what the checkpoints record (``bindings.torch.checkpoint_record``).
"""
import math
import re

from deepcnt.errors import InputError

EPOCH_FROM = ("auto", "checkpoint", "name", "step", "order")

_EPOCH_LABEL = re.compile(r"(?<![a-z])(?:epochs?|ep)[=_-]?(\d+)(?![.\d]\d)", re.I)
_STEP_LABEL = re.compile(r"(?<![a-z])(?:steps?|iter|iteration)[=_-]?(\d+)(?![.\d]\d)", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_HF_FOLDER = re.compile(r"checkpoint-(\d+)")


def natural_key(name):
    """Sort key that compares the digit runs of ``name`` as numbers (``ck2`` before ``ck10``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", name)]


def _unlabelled(stem):
    """Integers of ``stem`` outside the epoch/step labels, skipping decimals (metrics such as ``0.83``)."""
    taken = [m.span(1) for rx in (_EPOCH_LABEL, _STEP_LABEL) for m in rx.finditer(stem)]
    out = []
    for m in _NUMBER.finditer(stem):
        if "." in m.group() or any(a <= m.start() < b for a, b in taken):
            continue
        if m.start() and stem[m.start() - 1] == "." and m.end() < len(stem) and stem[m.end()] == ".":
            continue  # a version between dots (model.v1.2.pt) is no epoch
        out.append(int(m.group()))
    return out


def name_numbers(names, folders=()):
    """``{name: (epoch, step)}`` read from the names (``None`` where a name gives none).

    Parameters
    ----------
    names : list of str
        Checkpoint names without their suffix (file stems, folder names).
    folders : collection of str
        Those names that are Hugging Face ``checkpoint-N`` folders (their ``N`` is a step).

    Returns
    -------
    dict, dict
        The numbers per name, and ``{name: reason}`` for the unlabelled names that stayed ambiguous.
    """
    out, loose = {}, {}
    for n in names:
        hf = _HF_FOLDER.fullmatch(n) if n in folders else None
        ep = _EPOCH_LABEL.findall(n)
        st = _STEP_LABEL.findall(n)
        step = int(hf.group(1)) if hf else int(st[-1]) if st else None
        if ep:
            out[n] = (int(ep[-1]), step)
        else:
            out[n] = (None, step)
            if hf is None and not st:
                loose[n] = _unlabelled(n)
    why = {}
    groups = {}
    for n, v in loose.items():
        groups.setdefault(len(v), []).append(n)
    for k, group in groups.items():
        if k == 1:
            for n in group:
                out[n] = (loose[n][0], None)
            continue
        varying = [i for i in range(k) if len({loose[n][i] for n in group}) > 1]
        for n in group:
            if k and len(varying) == 1:
                out[n] = (loose[n][varying[0]], None)
            elif k:
                why[n] = f"{n} holds {k} numbers and no 'epoch' label"
    return out, why


def _integral(value, what, path):
    """``value`` as an int epoch/step, or an error naming the checkpoint when it is negative or fractional."""
    v = float(value)
    if not math.isfinite(v) or v != int(v) or v < 0:
        mid = what == "epoch" and math.isfinite(v) and v > 0
        hint = " (saved mid-epoch): use --epoch-from step" if mid else ", not a whole number >= 0: use another --epoch-from"
        raise InputError(f"checkpoint {path} records {what} {value}{hint}")
    return int(v)


def assign_epochs(items, mode="auto"):
    """The epoch of every checkpoint, sorted: ``[(epoch, path)]``.

    Parameters
    ----------
    items : list of (path, name, is_hf_folder, record)
        ``record`` is ``{"epoch": ..., "step": ...}`` as the checkpoint records them (``None`` when absent or
        when the mode does not need the contents).
    mode : one of :data:`EPOCH_FROM`

    Raises
    ------
    InputError
        An unknown mode; a checkpoint whose epoch cannot be told; two checkpoints with one epoch.
    """
    if mode not in EPOCH_FROM:
        raise InputError(f"unknown --epoch-from {mode!r}: use one of {', '.join(EPOCH_FROM)}")
    items = sorted(items, key=lambda it: natural_key(it[1]))
    if mode == "order":
        return [(k, it[0]) for k, it in enumerate(items)]
    named, why = name_numbers([it[1] for it in items], {it[1] for it in items if it[2]})
    order_hint = "rename the files (e.g. epoch_12.pt) or use --epoch-from order"
    pairs = []
    for path, name, _, record in items:
        record = record or {}
        rec_ep = None if record.get("epoch") is None else _integral(record["epoch"], "epoch", path)
        rec_st = None if record.get("step") is None else _integral(record["step"], "step", path)
        name_ep, name_st = named[name]
        if mode == "step":
            value = rec_st if rec_st is not None else name_st
            if rec_st is not None and name_st is not None and rec_st != name_st:
                raise InputError(f"checkpoint {path} records step {rec_st} but its name says {name_st}: "
                                 "rename it or use --epoch-from order")
            if value is None:
                raise InputError(f"checkpoint {path} records no training step and its name has none "
                                 "(step=N, checkpoint-N): use another --epoch-from")
        elif mode == "checkpoint":
            value = rec_ep
            if value is None:
                raise InputError(f"checkpoint {path} records no epoch (no 'epoch' entry): "
                                 "use --epoch-from name or --epoch-from order")
        elif mode == "name":
            value = name_ep
            if value is None:
                raise InputError(f"cannot tell the epoch from the name of {path}"
                                 f" ({why.get(name, 'no epoch number in it')}): {order_hint}")
        else:  # auto
            if rec_ep is not None and name_ep is not None and rec_ep != name_ep:
                raise InputError(f"checkpoint {path} records epoch {rec_ep} but its name says {name_ep}: "
                                 "choose with --epoch-from checkpoint or --epoch-from name")
            value = rec_ep if rec_ep is not None else name_ep
            if value is None:
                if rec_st is not None or name_st is not None:
                    raise InputError(f"checkpoint {path} gives a training step but no epoch: use --epoch-from "
                                     "step to number the entries by step, or --epoch-from order")
                raise InputError(f"cannot tell the epoch of {path}: it records none and "
                                 f"{why.get(name, 'its name has no epoch number')}: {order_hint}")
        pairs.append((value, path))
    pairs.sort(key=lambda p: p[0])
    for (e1, p1), (e2, p2) in zip(pairs, pairs[1:]):
        if e1 == e2:
            unit = "step" if mode == "step" else "epoch"
            alt = "--epoch-from step or " if mode in ("auto", "checkpoint", "name") else ""
            raise InputError(f"checkpoints {p1} and {p2} both map to {unit} {e1}: remove one, or use "
                             f"{alt}--epoch-from order")
    return pairs
