"""NB201 / DARTS benchmarking and correlation harness built around TE-NAS.

Kept import-free so that `import harness.registry` pulls in nothing heavy.
"""

__version__ = "0.1.0"
