"""From a plan to images: events, the scheduler, the builder, the build."""
