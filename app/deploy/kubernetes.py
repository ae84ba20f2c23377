"""Kubernetes manifests for a layout, generated from the module registry.

Plain manifests rather than a Kustomize base: they are generated for the layout asked for,
so there is nothing to patch, and `kubectl apply -f` (or any GitOps tool) takes them as they
are. No credential is ever written here: every password and key is a reference to a Secret
that `bulkhead deploy secrets` makes, outside the manifests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.main import DATABASES

from .layout import Layout, Service

Manifest = dict[str, Any]
PORT = 8000
POSTGRES_PORT = 5432
REDIS_PORT = 6379
APP = "bulkhead"
UID = 10001  # the image's own user (see the Dockerfile)
POSTGRES_IMAGE = "postgres:16"
PGVECTOR_IMAGE = "pgvector/pgvector:pg16"
REDIS_IMAGE = "redis:7"
JWT_SECRET = "bulkhead-jwt"
PUBLIC_KEYS = "bulkhead-service-public-keys"


@dataclass(frozen=True)
class Options:
    image: str
    namespace: str = "bulkhead"
    host: str = "bulkhead.example.com"  # the Ingress host
    external_databases: bool = False  # only the Secrets point at managed databases


def database_secret(module: str) -> str:
    return f"bulkhead-db-{module}"


def key_secret(service: str) -> str:
    return f"bulkhead-key-{service}"


def database_host(module: str) -> str:
    return f"db-{module}"


def manifests(layout: Layout, options: Options) -> list[Manifest]:
    """Everything a cluster needs for `layout`, in the order `kubectl apply` wants it."""
    out: list[Manifest] = [_namespace(options)]
    out += _network_policies(layout, options)
    out += _redis(options)
    for module in DATABASES:
        if not options.external_databases:
            out += _postgres(module.name, "vector" in module.postgres_extensions, options)
        out.append(_migration_job(module.name, layout.owner(module.name), options))
    for service in layout.services:
        out += _service(layout, service, options)
    out.append(_ingress(layout.edge, options))
    return out


# -- metadata and selectors -------------------------------------------------------------


def _meta(name: str, options: Options, **labels: str) -> Manifest:
    return {
        "name": name,
        "namespace": options.namespace,
        "labels": {"app.kubernetes.io/part-of": APP, **labels},
    }


def _service_labels(service: Service) -> dict[str, str]:
    """Every pod of a service: its servers and its migration Jobs (network policies)."""
    return {"app.kubernetes.io/name": APP, "bulkhead.dev/service": service.name}


def _serving_labels(service: Service) -> dict[str, str]:
    """Its servers only (what its Deployment, Service and budget select)."""
    return {**_service_labels(service), "bulkhead.dev/role": "serve"}


def _database_labels(module: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "postgresql", "bulkhead.dev/database": module}


REDIS_LABELS = {"app.kubernetes.io/name": "redis"}


def _namespace(options: Options) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": options.namespace, "labels": {"app.kubernetes.io/part-of": APP}},
    }


# -- the services -----------------------------------------------------------------------


def _environment(layout: Layout, service: Service, options: Options) -> list[Manifest]:
    def url_of(other: Service) -> str:
        return f"http://{other.name}.{options.namespace}.svc:{PORT}"

    redis = f"redis://redis.{options.namespace}.svc:{REDIS_PORT}/0"
    plain = {
        **layout.environment(service, url_of),
        "BULKHEAD_DATA_DIR": "/data",
        "BULKHEAD_KEYS_DIR": "/keys",
        "BULKHEAD_BUS_URL": redis,
        "BULKHEAD_REDIS_URL": redis,
    }
    env: list[Manifest] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    env.append(_from_secret("BULKHEAD_JWT_SECRET", JWT_SECRET, "secret"))
    for module in service.modules:
        variable = f"BULKHEAD_DATABASE_URL_{module.upper()}"
        env.append(_from_secret(variable, database_secret(module), "url"))
    return env


def _from_secret(variable: str, secret: str, key: str) -> Manifest:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _container_security(*, sandbox: bool = False) -> Manifest:
    security: Manifest = {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if sandbox:
        # bubblewrap makes user, PID, mount and network namespaces without privileges;
        # the runtime's default seccomp profile refuses unshare(CLONE_NEWUSER), so this
        # container runs without it (the sandbox installs its own, stricter filter for the
        # tool code), and the node must allow unprivileged user namespaces
        # (user.max_user_namespaces > 0). Nothing else is granted: no capability, no
        # privilege escalation, no host namespace.
        security["seccompProfile"] = {"type": "Unconfined"}
        security["appArmorProfile"] = {"type": "Unconfined"}
    return security


def _app_container(
    name: str, command: list[str], env: list[Manifest], options: Options, **extra: Any
) -> Manifest:
    return {
        "name": name,
        "image": options.image,
        "command": command,
        "env": env,
        "securityContext": _container_security(sandbox=extra.pop("sandbox", False)),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  # the pod's own emptyDir
            {"name": "keys", "mountPath": "/keys", "readOnly": True},
        ],
        **extra,
    }


def _resources(service: Service) -> Manifest:
    heavy = "tools" in service.modules or "rag" in service.modules or "memory" in service.modules
    return {
        "requests": {"cpu": "250m", "memory": "512Mi" if heavy else "256Mi"},
        "limits": {"cpu": "2", "memory": "2Gi" if heavy else "1Gi"},
    }


def _probe(path: str, period_s: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def _pod_volumes(service: Service) -> list[Manifest]:
    return [
        {"name": "data", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
        {
            "name": "keys",
            "projected": {
                "defaultMode": 0o440,  # root:fsGroup: readable by the server's group only
                "sources": [
                    {"secret": {"name": key_secret(service.name)}},
                    {"secret": {"name": PUBLIC_KEYS}},
                ],
            },
        },
    ]


def _service(layout: Layout, service: Service, options: Options) -> list[Manifest]:
    labels = _serving_labels(service)
    env = _environment(layout, service, options)
    sandbox = "tools" in service.modules
    # Every interface of the pod: its network policy decides who reaches it.
    serve = ["bulkhead", "serve", "--host", "0.0.0.0", "--port", str(PORT)]  # noqa: S104
    container = _app_container(
        "bulkhead",
        serve,
        env,
        options,
        sandbox=sandbox,
        ports=[{"name": "http", "containerPort": PORT}],
        readinessProbe=_probe("/health/ready", 10),
        livenessProbe=_probe("/health/live", 20),
        startupProbe={**_probe("/health/live", 5), "failureThreshold": 30},
        resources=_resources(service),
    )
    wait = _app_container(
        "wait-for-migrations",
        ["bulkhead", "db", "wait", "--timeout", "900"],
        env,
        options,
        resources={
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    )
    pod = {
        "metadata": {"labels": {**labels, "app.kubernetes.io/part-of": APP}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "fsGroup": UID},
            "initContainers": [wait],
            "containers": [container],
            "volumes": _pod_volumes(service),
        },
    }
    name = service.name
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(name, options, **labels),
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": pod},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, options, **labels),
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(name, options, **labels),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        },
        {  # every service keeps its state in its databases and Redis: any can scale out
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(name, options, **labels),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": 2,
                "maxReplicas": 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
        },
    ]


def _migration_job(module: str, owner: Service, options: Options) -> Manifest:
    env = [
        {"name": "BULKHEAD_DATA_DIR", "value": "/data"},
        {"name": "BULKHEAD_KEYS_DIR", "value": "/keys"},
        _from_secret(f"BULKHEAD_DATABASE_URL_{module.upper()}", database_secret(module), "url"),
    ]
    container = _app_container(
        "migrate",
        ["bulkhead", "db", "upgrade", "--module", module],
        env,
        options,
        resources={
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
    )
    labels = {**_service_labels(owner), "bulkhead.dev/role": "migrate"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(
            f"migrate-{module}", options, **labels, **{"bulkhead.dev/migrates": module}
        ),
        "spec": {
            "backoffLimit": 10,
            "template": {
                "metadata": {"labels": {**labels, "app.kubernetes.io/part-of": APP}},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "fsGroup": UID},
                    "containers": [container],
                    "volumes": _pod_volumes(owner),
                },
            },
        },
    }


# -- databases and Redis ----------------------------------------------------------------


def _postgres(module: str, vector: bool, options: Options) -> list[Manifest]:
    labels = _database_labels(module)
    name = database_host(module)
    secret = database_secret(module)
    container = {
        "name": "postgres",
        "image": PGVECTOR_IMAGE if vector else POSTGRES_IMAGE,
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
        "env": [
            _from_secret("POSTGRES_USER", secret, "user"),
            _from_secret("POSTGRES_PASSWORD", secret, "password"),
            _from_secret("POSTGRES_DB", secret, "database"),
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
                "metadata": _meta(f"{name}-init", options, **labels),
                "data": {"pgvector.sql": "CREATE EXTENSION IF NOT EXISTS vector;\n"},
            }
        )
    return [
        *extra,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": _meta(name, options, **labels),
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
            "metadata": _meta(name, options, **labels),
            "spec": {
                "clusterIP": "None",
                "selector": labels,
                "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres"}],
            },
        },
    ]


def _redis(options: Options) -> list[Manifest]:
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
            "metadata": _meta("redis", options, **REDIS_LABELS),
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
            "metadata": _meta("redis", options, **REDIS_LABELS),
            "spec": {
                "selector": REDIS_LABELS,
                "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}],
            },
        },
    ]


def _ingress(edge: Service, options: Options) -> Manifest:
    backend = {"service": {"name": edge.name, "port": {"number": PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta("bulkhead", options),
        "spec": {
            "rules": [
                {
                    "host": options.host,
                    "http": {
                        "paths": [  # the public API and its docs; never /internal
                            {"path": p, "pathType": "Prefix", "backend": backend}
                            for p in ("/v1", "/health", "/schema")
                        ]
                    },
                }
            ]
        },
    }


# -- network policies: the registry's boundaries, enforced by the network --------------


def _network_policies(layout: Layout, options: Options) -> list[Manifest]:
    policies = [_policy("default-deny", {}, options, ingress=[], egress=[_dns()])]
    for module in [] if options.external_databases else DATABASES:
        owner = layout.owner(module.name)
        pods = [_from(_service_labels(owner))]  # its servers and its migration Job
        policies.append(
            _policy(
                f"db-{module.name}-from-{owner.name}",
                _database_labels(module.name),
                options,
                ingress=[{"from": pods, "ports": [{"port": POSTGRES_PORT, "protocol": "TCP"}]}],
            )
        )
    redis_users = [_from(_service_labels(s)) for s in layout.services]
    policies.append(
        _policy(
            "redis-from-services",
            REDIS_LABELS,
            options,
            ingress=[{"from": redis_users, "ports": [{"port": REDIS_PORT, "protocol": "TCP"}]}],
        )
    )
    for service in layout.services:
        callers = [_from(_service_labels(c)) for c in layout.callers(service)]
        if service.edge:  # the public API: from anywhere the Ingress controller runs
            callers.append({"namespaceSelector": {}})
        rules = [{"from": callers, "ports": [{"port": PORT, "protocol": "TCP"}]}] if callers else []
        policies.append(
            _policy(
                f"{service.name}-ingress",
                _service_labels(service),
                options,
                ingress=rules,
                egress=_egress_of(layout, service, options),
            )
        )
    return policies


def _egress_of(layout: Layout, service: Service, options: Options) -> list[Manifest]:
    """Its own databases, Redis, the services it calls, and DNS: nothing else (for the
    tools service, whose sandboxes have no network at all, the same list). Managed
    databases live outside the cluster: their port, at any address."""
    to_databases = [_to(_database_labels(m)) for m in service.modules]
    if options.external_databases:
        to_databases = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    rules = [
        _dns(),
        {"to": to_databases, "ports": [{"port": POSTGRES_PORT, "protocol": "TCP"}]},
        {"to": [_to(REDIS_LABELS)], "ports": [{"port": REDIS_PORT, "protocol": "TCP"}]},
    ]
    called = sorted({layout.owner(m).name for m in layout.calls(service)})
    if service.edge:
        called = [s.name for s in layout.services if s is not service]
    if called:
        targets = [_to(_service_labels(s)) for s in layout.services if s.name in called]
        rules.append({"to": targets, "ports": [{"port": PORT, "protocol": "TCP"}]})
    return rules


def _policy(
    name: str,
    selected: dict[str, str],
    options: Options,
    *,
    ingress: list[Manifest] | None = None,
    egress: list[Manifest] | None = None,
) -> Manifest:
    types = []
    spec: Manifest = {"podSelector": {"matchLabels": selected} if selected else {}}
    if ingress is not None:
        types.append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        types.append("Egress")
        spec["egress"] = egress
    spec["policyTypes"] = types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, options),
        "spec": spec,
    }


def _from(labels: dict[str, str]) -> Manifest:
    return {"podSelector": {"matchLabels": labels}}


_to: Callable[[dict[str, str]], Manifest] = _from


def _dns() -> Manifest:
    return {
        "to": [{"namespaceSelector": {}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }
