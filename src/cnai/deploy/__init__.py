"""Deployments: a ``kind: Deployment`` spec converged into running ``cnai serve`` replicas.

Desired state is the spec in the control-plane database; the controller turns it into a router
port per deployment, replica processes, autoscaling, rolling updates and canaries, and reports
what it did in the resource's status. Policies (autoscaling, canary judgement, traffic split) are
pure modules; the controller is a thin loop around them.

    specs.py        the Deployment spec (pydantic), validated once when applied
    quantity.py     Kubernetes quantities and the requests/limits rules of spec.resources
    autoscaler.py   concurrency policy with stable and panic windows (Knative KPA), no I/O
    canary.py       the canary judge: error rate and p99 against the spec's thresholds, no I/O
    stats.py        per-target counters and the in-flight integral the router keeps
    upstream.py     pooled HTTP/1.1 client for the router's hop to a replica
    router.py       the per-deployment HTTP router: split, activate, balance, retry, measure
    replicas.py     ``cnai serve`` processes: start, readiness, health, stop, adopt
    resolver.py     model URIs to pinned versions (follows aliases through the registry API)
    controller.py   the reconcile loop (Controller protocol) and per-deployment convergence
    api.py          /api/v1 promote and rollback routes
"""
