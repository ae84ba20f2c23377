"""Kubernetes manifests for a layout, generated from the module registry.

Plain manifests rather than a Kustomize base: they are generated for the layout asked for,
so there is nothing to patch, and `kubectl apply -f` (or any GitOps tool) takes them as they
are. No credential is ever written here: every password and key is a reference to a Secret
that `bulkhead deploy secrets` makes, outside the manifests.
"""

from __future__ import annotations

from typing import Any

from .k8s_common import (
    APP,
    JWT_SECRET,
    PORT,
    PUBLIC_KEYS,
    REDIS_PORT,
    UID,
    Manifest,
    Options,
    database_secret,
    from_secret,
    key_secret,
    meta,
    namespace,
    service_labels,
    serving_labels,
)
from .k8s_network_policies import network_policies
from .k8s_stores import postgres, redis
from .layout import Layout, Service


def manifests(layout: Layout, options: Options) -> list[Manifest]:
    """Everything a cluster needs for `layout`, in the order `kubectl apply` wants it."""
    out: list[Manifest] = [namespace(options)]
    out += network_policies(layout, options)
    out += redis(options)
    for module in layout.databases:
        if not options.external(module.name):
            out += postgres(module.name, "vector" in module.postgres_extensions, options)
        out.append(_migration_job(module.name, layout.owner(module.name), options))
    for service in layout.services:
        out += _service(layout, service, options)
    out.append(_ingress(layout.edge, options))
    return out


# -- the services -----------------------------------------------------------------------


def _environment(layout: Layout, service: Service, options: Options) -> list[Manifest]:
    def url_of(other: Service) -> str:
        return f"http://{other.name}.{options.namespace}.svc:{PORT}"

    redis_url = f"redis://redis.{options.namespace}.svc:{REDIS_PORT}/0"
    plain = {
        **layout.environment(service, url_of),
        "BULKHEAD_DATA_DIR": "/data",
        "BULKHEAD_KEYS_DIR": "/keys",
        "BULKHEAD_BUS_URL": redis_url,
        "BULKHEAD_REDIS_URL": redis_url,
    }
    env: list[Manifest] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    env.append(from_secret("BULKHEAD_JWT_SECRET", JWT_SECRET, "secret"))
    for module in service.modules:
        variable = f"BULKHEAD_DATABASE_URL_{module.upper()}"
        env.append(from_secret(variable, database_secret(module), "url"))
    return env


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
    labels = serving_labels(service)
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
            "metadata": meta(name, options, **labels),
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": pod},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(name, options, **labels),
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(name, options, **labels),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}},
        },
        {  # every service keeps its state in its databases and Redis: any can scale out
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta(name, options, **labels),
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
        from_secret(f"BULKHEAD_DATABASE_URL_{module.upper()}", database_secret(module), "url"),
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
    labels = {**service_labels(owner), "bulkhead.dev/role": "migrate"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(
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


def _ingress(edge: Service, options: Options) -> Manifest:
    backend = {"service": {"name": edge.name, "port": {"number": PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta("bulkhead", options),
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
