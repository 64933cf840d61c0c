"""Bridges to other frameworks (PyTorch: `tex.contrib.torch`). Not imported by `import tex`."""
