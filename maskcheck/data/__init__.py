"""Turn whatever the user passed as X / y / sample_weight into NumPy batches, streamed once.

Supported: NumPy arrays (and array-likes), lists/tuples/dicts of arrays for multi-input models,
`tf.data.Dataset`, generators and other iterators, and `keras.utils.PyDataset`. Dataset-like
sources may yield `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` (a list counts as a tuple, as
in `fit`), batches of different lengths (`padded_batch`, bucketing), and need not end: a source
of unknown length is read for at most `DEFAULT_MAX_BATCHES` batches (or `steps`). Raw inputs
(strings, raw integers) go through the model's own preprocessing layers or a keras-hub task's
preprocessor first (`front`), so the data checks see the ids the mask source sees.

Modules: `types` (specs, batches, the sample), `source` (the streamed pass), `collect` (the traced
sample and progress), `front` (raw inputs through the model's preprocessing).
"""

from maskcheck.data.collect import Progress, collect
from maskcheck.data.front import Front, front
from maskcheck.data.source import DEFAULT_MAX_BATCHES, DataSource
from maskcheck.data.types import CHUNK, Batch, InputSpec, Prepared, Sample, input_specs

__all__ = [
    "CHUNK",
    "DEFAULT_MAX_BATCHES",
    "Batch",
    "DataSource",
    "Front",
    "InputSpec",
    "Prepared",
    "Progress",
    "Sample",
    "collect",
    "front",
    "input_specs",
]
