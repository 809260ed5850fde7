"""One task per model: what the shared loop needs to train it (data, model, step, scores).

``TASKS`` names every trainable task; the command line makes one train command per entry.
"""

from __future__ import annotations

from artstyle.train.tasks import autoencoder, classifier, stylizer
from artstyle.train.tasks.base import TaskSpec

TASKS: dict[str, TaskSpec] = {
    spec.name: spec for spec in (classifier.SPEC, autoencoder.SPEC, stylizer.SPEC)
}


def spec_for(config: object) -> TaskSpec:
    """The task whose config model ``config`` is."""
    for spec in TASKS.values():
        if type(config) is spec.config:
            return spec
    raise TypeError(f"no task trains a {type(config).__name__}")
