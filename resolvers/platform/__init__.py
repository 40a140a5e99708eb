"""Resolvers of the platform domain (services/platform): platform parameters, system (node,
clock, notifications, dev tools).
"""
