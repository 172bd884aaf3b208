"""The pure core: inputs, graph, snapshot, digest and plan over a tree view."""
