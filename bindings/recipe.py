"""The types of a paper's reproduction: a :class:`Recipe` (what to train, analyse, draw and test), the
:class:`Context` its functions read, one :class:`Finding` per claim, and the :class:`Result`."""
import math
from dataclasses import dataclass, field
from pathlib import Path

SIZES = ("tiny", "small", "full")


@dataclass
class Finding:
    """One finding of a paper tested on a run.

    Attributes
    ----------
    name : str
        The finding in words ("mean weight shifts negative").
    shown : bool
        Whether the run shows it (the statistic passes the test stated in ``test``).
    statistic : str
        The measured statistic, in words with its value(s).
    test : str
        What counts as shown.
    paper : str
        The paper's own number (or words where it gives none).
    value : float
        The statistic's main number (what the tests of this module check the sign of).
    """

    name: str
    shown: bool
    statistic: str
    test: str
    paper: str
    value: float


@dataclass
class Recipe:
    """How to reproduce one paper (see the module docstring)."""

    paper: str
    title: str
    preset: str
    steps: dict  # size -> optimisation steps (per layer for a DBN)
    settings: dict  # size -> preset overrides (widths, lr, ...)
    analysis: dict  # size -> analyze keyword arguments (metrics, threshold, options)
    findings: object  # callable(Context) -> list[Finding]
    figures: object  # callable(Context, out) -> list[Path]
    schedule: object  # callable(total_epochs) -> list of epochs to save
    variants: dict = field(default_factory=dict)  # name -> more settings: further runs, OUT/run-NAME


@dataclass
class Context:
    """What a recipe's findings and figures read: the run, its analysis tables and the data."""

    store: object
    analysis: object
    data: object
    recipe: Recipe
    size: str
    variants: dict = field(default_factory=dict)  # name -> EpochStore of the recipe's variant runs
    _cache: dict = field(default_factory=dict)

    def nodes(self):
        if "nodes" not in self._cache:
            self._cache["nodes"] = self.analysis.nodes()
        return self._cache["nodes"]

    def epochs(self):
        """The per-epoch table with the run's scalars (accuracy, reconstruction error) joined."""
        if "epochs" not in self._cache:
            df = self.analysis.epochs()
            sc = self.store.scalars_frame()
            extra = [c for c in sc.columns if c not in df.columns]
            self._cache["epochs"] = df.merge(sc[["member", "entry"] + extra], on=["member", "entry"], how="left")
        return self._cache["epochs"]


@dataclass
class Result:
    """What :func:`reproduce` did: the findings, and where it wrote."""

    paper: str
    findings: list
    run: Path
    table: Path
    figures: list

    def __str__(self):
        return self.table.read_text()  # the findings table, as written to findings.md

    def show(self):
        """Draw every figure the reproduction wrote, one matplotlib figure each (for a notebook or the
        docs' gallery). Returns the matplotlib figures."""
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt

        shown = []
        for png in self.figures:
            image = mpimg.imread(png)
            height, width = image.shape[:2]
            fig, ax = plt.subplots(figsize=(10, 10 * height / width))
            ax.imshow(image)
            ax.set_axis_off()
            shown.append(fig)
        return shown


def steps_to_epochs(steps, n_train, batch_size):
    """Epochs of ``n_train`` items in batches of ``batch_size`` that make at least ``steps`` updates (>= 1)."""
    per_epoch = math.ceil(n_train / batch_size)
    return max(1, math.ceil(steps / per_epoch))
