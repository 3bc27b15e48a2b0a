"""Bulk imports (``cpc data import ...``): one module per source, all writing the raw schema (``cpc_dataset.raw``)
through one writer (``writer.RawWriter``)."""
