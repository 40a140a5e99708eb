"""Credit (M2): verification kinds, members' materials, credit policy, lenders' risk
assessment (R4), and later review, score and limits."""
