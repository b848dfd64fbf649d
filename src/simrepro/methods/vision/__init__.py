"""Images and signals: low-complexity DCT approximations."""
