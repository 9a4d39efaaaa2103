"""Yoto Smart Stream delivery pipeline.

`environments` and the other engine-free modules take no `dagger` import: the host test
suite runs them directly, and the Dagger layer (`main`) only composes containers that call them.
"""
