"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), no download.

Images are ``(N, 1, 8, 8)``, standardised with train statistics. The test split is a fixed,
stratified 20% (seed :data:`~nasforge.task.arrays.TEST_SEED`, independent of ``seed``).
"""

from __future__ import annotations

from nasforge.task.arrays import task_from_arrays
from nasforge.task.registry import no_argument, register_task
from nasforge.task.task import Task


@register_task("digits")
def load_digits(argument: str | None = None, *, seed: int = 0, val_fraction: float = 0.2) -> Task:
    """The digits task; ``seed`` draws the validation split from the train part."""
    no_argument("digits", argument)
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    return task_from_arrays(
        data.images, data.target, name="digits", num_classes=10,
        class_names=[str(i) for i in range(10)], seed=seed, val_fraction=val_fraction, layout="NHW",
    )
