"""Progress bars for the long commands (``analyze``, ``train``, ``ingest``, ``report``): tqdm on stderr, with
the rate and the time left, drawn only when stderr is a terminal (quiet in logs, pipes and tests)."""


class _NoBar:
    """What :func:`progress_bar` returns when nothing is shown."""

    def update(self, n=1):
        pass

    def set_description_str(self, desc):
        pass

    def close(self):
        pass


def progress_bar(total, desc, unit="it", show=True, initial=0):
    """A progress bar of ``total`` steps (``update(n)``, ``close()``).

    Parameters
    ----------
    total : int
    desc : str
        What is counted, e.g. ``"analyze"``.
    unit : str
    show : bool
        False: a bar that draws nothing. True: tqdm's bar where stderr is a terminal (tqdm absent: nothing).
    initial : int
        Steps already done (a resumed run), not counted in the rate.
    """
    if not show:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return _NoBar()
    # disable=None: drawn only where stderr is a terminal
    return tqdm(total=total, unit=unit, desc=desc, leave=False, disable=None, initial=initial)


def progress_callback(desc, unit="it", resumable=False):
    """A ``progress(done, total)`` callback, as the trainers, ``ingest`` and the EMD call it, that draws a
    :func:`progress_bar`; the bar closes when ``done`` reaches ``total``.

    Parameters
    ----------
    desc, unit : str
    resumable : bool
        The caller reports one step per call and may start in the middle (a resumed training run): the first
        call's ``done - 1`` steps count as done before, not in the rate and the time left.
    """
    state = {}

    def progress(done, total):
        bar = state.get("bar")
        if bar is None or state["total"] != total:
            if bar is not None:
                bar.close()
            start = max(done - 1, 0) if resumable else 0
            bar = state["bar"] = progress_bar(total, desc, unit, initial=start)
            state["total"], state["done"] = total, start
        bar.update(done - state["done"])
        state["done"] = done
        if done >= total:
            bar.close()
            state.pop("bar")

    return progress
