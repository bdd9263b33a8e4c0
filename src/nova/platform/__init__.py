"""Shared libraries of Nova. Nothing here imports a service package."""
