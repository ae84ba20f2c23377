"""Deployments generated from the module registry: which service runs which modules, what
each is configured with, and (next) the Kubernetes manifests for that layout."""
