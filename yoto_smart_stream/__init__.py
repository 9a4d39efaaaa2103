"""Yoto Smart Stream: the API served from Lambda."""

# The one place the version is written: hatch reads it for the package metadata, and the
# health endpoint reads it at run time, where the Lambda artifact carries no dist-info.
__version__ = "0.1.0"
