"""Files gaussmix reads and writes, one module per kind.

* :mod:`gaussmix.files.record` — ``ModelRecord``, a fitted mixture as plain values, and the
  one list of fitted attributes;
* :mod:`gaussmix.files.model_file` — model files (safetensors + JSON header) to and from
  records; no estimator import.

Elsewhere: :mod:`gaussmix.atomic` (atomic writes of every output), :mod:`gaussmix.tables`
(the command's data files), :mod:`gaussmix.dataio` (lazy Parquet/Zarr readers), and
:mod:`gaussmix.io` (the public ``save``/``load``).
"""
