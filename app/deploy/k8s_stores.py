"""The stores a deployment runs itself: a PostgreSQL per module (pgvector where a module
needs it) and Redis for the event bus and working memory."""

from __future__ import annotations

from .k8s_common import (
    APP,
    PGVECTOR_IMAGE,
    PGVECTOR_INIT_SQL,
    POSTGRES_IMAGE,
    POSTGRES_PORT,
    REDIS_IMAGE,
    REDIS_LABELS,
    REDIS_PORT,
    Manifest,
    Options,
    database_host,
    database_labels,
    database_secret,
    from_secret,
    meta,
)


def postgres(module: str, vector: bool, options: Options) -> list[Manifest]:
    labels = database_labels(module)
    name = database_host(module)
    secret = database_secret(module)
    container = {
        "name": "postgres",
        "image": PGVECTOR_IMAGE if vector else POSTGRES_IMAGE,
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
        "env": [
            from_secret("POSTGRES_USER", secret, "user"),
            from_secret("POSTGRES_PASSWORD", secret, "password"),
            from_secret("POSTGRES_DB", secret, "database"),
            {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 999,  # the image's postgres user
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "readinessProbe": {
            "exec": {"command": ["pg_isready", "-h", "127.0.0.1"]},
            "periodSeconds": 10,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "postgres"},
            "periodSeconds": 20,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            *([{"name": "init", "mountPath": "/docker-entrypoint-initdb.d"}] if vector else []),
        ],
    }
    volumes: list[Manifest] = [{"name": "run", "emptyDir": {}}]
    extra: list[Manifest] = []
    if vector:  # created by the image's superuser at first start, as `db provision` would
        volumes.append({"name": "init", "configMap": {"name": f"{name}-init"}})
        extra.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": meta(f"{name}-init", options, **labels),
                "data": {"pgvector.sql": PGVECTOR_INIT_SQL},
            }
        )
    return [
        *extra,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta(name, options, **labels),
            "spec": {
                "serviceName": name,
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": {**labels, "app.kubernetes.io/part-of": APP}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {"runAsNonRoot": True, "fsGroup": 999},
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Gi"}},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name, options, **labels),
            "spec": {
                "clusterIP": "None",
                "selector": labels,
                "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres"}],
            },
        },
    ]


def redis(options: Options) -> list[Manifest]:
    container = {
        "name": "redis",
        "image": REDIS_IMAGE,
        "args": ["--appendonly", "yes", "--dir", "/data"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 999,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "readinessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 20},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta("redis", options, **REDIS_LABELS),
            "spec": {
                "serviceName": "redis",
                "replicas": 1,
                "selector": {"matchLabels": REDIS_LABELS},
                "template": {
                    "metadata": {"labels": {**REDIS_LABELS, "app.kubernetes.io/part-of": APP}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {"runAsNonRoot": True, "fsGroup": 999},
                        "containers": [container],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "5Gi"}},
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("redis", options, **REDIS_LABELS),
            "spec": {
                "selector": REDIS_LABELS,
                "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}],
            },
        },
    ]
