"""patent-cpc: CPC classifiers (training, evaluation, export, prediction)."""
