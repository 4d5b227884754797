"""adlang: a small differentiable programming language."""
