"""The system of record: identifiers, values, enterprises, prefixes, templates,
credentials; the LMDB store with its change log; the write path.

Front ends use :class:`idnode.registry.service.Registry`; errors are the
Handle-coded exceptions of :mod:`idnode.registry.errors`.
"""
