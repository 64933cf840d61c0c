"""The language: dtypes, the expression IR, tensors and operations, the DSL, printer and simplifier."""
