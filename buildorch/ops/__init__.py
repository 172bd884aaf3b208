"""Day-to-day operations built on the core: bake export, and more."""
