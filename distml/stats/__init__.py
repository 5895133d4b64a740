"""Pure, mergeable statistics: sketches, moments, sampling keys, allocation, evaluation states
and distribution distances. No Ray and no I/O: each is a value with ``of``/``merge`` (and a
result), tested against a one-pass computation over random shardings."""
