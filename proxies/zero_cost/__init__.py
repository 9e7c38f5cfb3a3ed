"""The standard zero-cost proxies the field compares TE-NAS against."""
