"""Source text to AST and back: the parser (:mod:`.parser`, Lark grammar plus spans and
syntax diagnostics), the AST (:mod:`.ast`) and the canonical formatter (:mod:`.format`)."""
