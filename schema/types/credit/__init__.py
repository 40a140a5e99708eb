"""GraphQL types of the credit domain (services/credit): verification, credit profile and
review (credit), the lender's R4 assessment (lending), the industry credit query answered
for partner platforms (sharing).
"""
