"""The pure core of the control plane: data in, data out, no I/O."""
