"""The validation rules: one module per IOD module group, each with ``check(ctx) -> Iterator[Violation]``.

:data:`labelmap.validate.runner.RULES` lists them in the order their violations are reported.
"""
