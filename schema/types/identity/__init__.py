"""GraphQL types of the identity domain (services/identity): members, access (roles and
permissions), privacy.
"""
