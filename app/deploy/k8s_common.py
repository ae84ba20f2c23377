"""What every Kubernetes object of a deployment shares: names, labels, ports, images and
the Secrets' names (never their values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .layout import Service

Manifest = dict[str, Any]
PORT = 8000
POSTGRES_PORT = 5432
REDIS_PORT = 6379
APP = "bulkhead"
UID = 10001  # the image's own user (see the Dockerfile)
POSTGRES_IMAGE = "postgres:16"
PGVECTOR_IMAGE = "pgvector/pgvector:pg16"
REDIS_IMAGE = "redis:7"
PGVECTOR_INIT_SQL = "CREATE EXTENSION IF NOT EXISTS vector;\n"  # at a database's first start
JWT_SECRET = "bulkhead-jwt"
PUBLIC_KEYS = "bulkhead-service-public-keys"


@dataclass(frozen=True)
class Options:
    image: str
    namespace: str = "bulkhead"
    host: str = "bulkhead.example.com"  # the Ingress host
    # Modules whose database is managed outside the cluster (RDS, Cloud SQL): no
    # StatefulSet for them, only the Secret with the URL.
    external_databases: frozenset[str] = frozenset()

    def external(self, module: str) -> bool:
        return module in self.external_databases


def database_secret(module: str) -> str:
    return f"bulkhead-db-{module}"


def key_secret(service: str) -> str:
    return f"bulkhead-key-{service}"


def database_host(module: str) -> str:
    return f"db-{module}"


# -- metadata and selectors -------------------------------------------------------------


def meta(name: str, options: Options, **labels: str) -> Manifest:
    return {
        "name": name,
        "namespace": options.namespace,
        "labels": {"app.kubernetes.io/part-of": APP, **labels},
    }


def service_labels(service: Service) -> dict[str, str]:
    """Every pod of a service: its servers and its migration Jobs (network policies)."""
    return {"app.kubernetes.io/name": APP, "bulkhead.dev/service": service.name}


def serving_labels(service: Service) -> dict[str, str]:
    """Its servers only (what its Deployment, Service and budget select)."""
    return {**service_labels(service), "bulkhead.dev/role": "serve"}


def database_labels(module: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "postgresql", "bulkhead.dev/database": module}


REDIS_LABELS = {"app.kubernetes.io/name": "redis"}


def namespace(options: Options) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": options.namespace, "labels": {"app.kubernetes.io/part-of": APP}},
    }


def from_secret(variable: str, secret: str, key: str) -> Manifest:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
