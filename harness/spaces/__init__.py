"""Search spaces: cell encodings, validation, isomorphism and network builders.

`harness.spaces.registry.SPACES` names every space and what it offers. This package imports nothing
itself, so that `harness.spaces.nb201` stays free of torch.
"""
