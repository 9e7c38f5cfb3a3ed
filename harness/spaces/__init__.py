"""Search spaces: cell encodings, validation, isomorphism and network builders."""
