"""Static HTML feature pages and the local web browser over the feature store (never computes features)."""
