"""``cpc learn``: add labelled patents to a model's neighbour banks without retraining (``learn.learn_model``).

``sources`` reads what is learned (raw CSVs, dataset folders or repo ids, parquet files, the feedback folder),
``banks`` finds a model folder's neighbour banks and appends rows to them, ``learn`` ties both together and
records what was learned (``learned.json`` and the card).
"""
