"""Tasks over a collection: recommend, (search, classify, ... as they come)."""
