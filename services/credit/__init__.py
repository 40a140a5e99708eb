"""Credit (M2): verification kinds, members' materials, and later review, score and limits."""
