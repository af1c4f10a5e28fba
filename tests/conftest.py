"""Settings for the whole test suite."""

import os

# Compile numba kernels when first needed and wait for them (gaussmix.precompile), so that
# no test's path depends on how fast a background compilation ends.
os.environ.setdefault("GAUSSMIX_COMPILE", "wait")
