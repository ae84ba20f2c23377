"""Network policies that are the registry's boundaries: default deny; each database open
only to the pods of the service owning its module; each internal port only to the services
the registry lets call it; the edge to the outside; DNS; and each service's egress."""

from __future__ import annotations

from collections.abc import Callable

from .k8s_common import (
    PORT,
    POSTGRES_PORT,
    REDIS_LABELS,
    REDIS_PORT,
    Manifest,
    Options,
    database_labels,
    meta,
    service_labels,
)
from .layout import Layout, Service


def network_policies(layout: Layout, options: Options) -> list[Manifest]:
    policies = [_policy("default-deny", {}, options, ingress=[], egress=[_dns()])]
    for module in [m for m in layout.databases if not options.external(m.name)]:
        owner = layout.owner(module.name)
        pods = [_from(service_labels(owner))]  # its servers and its migration Job
        policies.append(
            _policy(
                f"db-{module.name}-from-{owner.name}",
                database_labels(module.name),
                options,
                ingress=[{"from": pods, "ports": [{"port": POSTGRES_PORT, "protocol": "TCP"}]}],
            )
        )
    redis_users = [_from(service_labels(s)) for s in layout.services]
    policies.append(
        _policy(
            "redis-from-services",
            REDIS_LABELS,
            options,
            ingress=[{"from": redis_users, "ports": [{"port": REDIS_PORT, "protocol": "TCP"}]}],
        )
    )
    for service in layout.services:
        callers = [_from(service_labels(c)) for c in layout.callers(service)]
        if service.edge:  # the public API: from anywhere the Ingress controller runs
            callers.append({"namespaceSelector": {}})
        rules = [{"from": callers, "ports": [{"port": PORT, "protocol": "TCP"}]}] if callers else []
        policies.append(
            _policy(
                f"{service.name}-ingress",
                service_labels(service),
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
    to_databases = [_to(database_labels(m)) for m in service.modules if not options.external(m)]
    if any(options.external(m) for m in service.modules):
        to_databases.append({"ipBlock": {"cidr": "0.0.0.0/0"}})
    rules = [
        _dns(),
        {"to": to_databases, "ports": [{"port": POSTGRES_PORT, "protocol": "TCP"}]},
        {"to": [_to(REDIS_LABELS)], "ports": [{"port": REDIS_PORT, "protocol": "TCP"}]},
    ]
    called = sorted({layout.owner(m).name for m in layout.calls(service)})
    if service.edge:
        called = [s.name for s in layout.services if s is not service]
    if called:
        targets = [_to(service_labels(s)) for s in layout.services if s.name in called]
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
        "metadata": meta(name, options),
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
