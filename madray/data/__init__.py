"""Real data sources: MNIST images (offline) and the 2D Rosenbrock density (exact sampler)."""
