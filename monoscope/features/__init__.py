"""Per-feature evidence: examples, hypothesis tests, neuron comparison, geometry, universality."""
