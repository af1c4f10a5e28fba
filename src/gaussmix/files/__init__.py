"""Files gaussmix reads and writes, one module per kind; no module here imports the estimator.

* :mod:`~gaussmix.files.record` — ``ModelRecord``, a fitted mixture as plain values, and
  ``FITTED_ATTRIBUTES``, the one list of the estimator's fitted attributes;
* :mod:`~gaussmix.files.model_file` — model files (safetensors arrays + a JSON header) written
  from and read into records, with every check of ``docs/model-format.md``;
* :mod:`~gaussmix.files.tables` — the command's in-memory data files (delimited text,
  Parquet, .npy) read to numbers, and its CSV outputs;
* :mod:`~gaussmix.files.readers` — Parquet and Zarr opened lazily as Dask collections;
* :mod:`~gaussmix.files.atomic` — the atomic write every output goes through.

Public paths kept for users: :mod:`gaussmix.io` (``save``, ``load``, ``read_model_file``),
:mod:`gaussmix.tables`, :mod:`gaussmix.dataio` and :mod:`gaussmix.atomic` re-export these.
The estimator's side of model files is :mod:`gaussmix.persistence`; the command's lazy data
(opening, standardising, writing) is :mod:`gaussmix.cli_datasets`; :mod:`gaussmix.datasets`
holds the bundled example data sets.
"""
