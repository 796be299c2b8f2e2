"""Talking to a cluster: server-side apply, rollout watch, traffic patches. Kept thin.

Everything decided here is decided by pure functions elsewhere (what to render, :mod:`rollout`
for "is it done", :mod:`traffic` for promote/rollback, :func:`apply_stages` for the order);
this module only moves objects through the official ``kubernetes`` client (``pip install
'cnai[k8s]'``). Server-side apply with field manager ``cnai``: fields another manager owns (an
HPA's replica count) stay theirs, and a conflict on a field cnai rendered is forced, since
the spec file is the source of truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnai.errors import InvalidArgument, NotFound, Unavailable
from cnai.k8s.model import Manifest
from cnai.k8s.rollout import RolloutStatus, rollout_status
from cnai.k8s.traffic import Change, Ref

FIELD_MANAGER = "cnai"
MERGE_PATCH = "application/merge-patch+json"


def apply_stages(
    with_canary: list[Manifest], without_canary: list[Manifest] | None, exists: bool
) -> list[list[Manifest]]:
    """The order to apply in. KServe and Knative split traffic between the last rolled-out
    revision and the newest: when the object does not exist yet, the stable model goes out first
    (and must be ready) so that the canary has something to split with."""
    if without_canary is not None and not exists:
        return [without_canary, with_canary]
    return [with_canary]


@dataclass
class Cluster:
    """One namespace of one cluster, through the dynamic client."""

    client: Any  # kubernetes.dynamic.DynamicClient
    namespace: str

    @classmethod
    def connect(cls, context: str | None = None, namespace: str | None = None) -> Cluster:
        try:
            from kubernetes import config, dynamic
            from kubernetes.client import ApiClient
        except ImportError:
            raise InvalidArgument("`cnai k8s apply` needs the kubernetes client: pip install 'cnai[k8s]'") from None
        try:
            config.load_kube_config(context=context)  # type: ignore[no-untyped-call]
            _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
            current_ns = (active or {}).get("context", {}).get("namespace") or "default"
        except Exception:  # no kubeconfig: inside a pod, the service account's cluster
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except config.ConfigException:
                raise Unavailable(
                    "No cluster: no kubeconfig (~/.kube/config, KUBECONFIG) and not inside a pod"
                ) from None
            current_ns = _incluster_namespace()
        return cls(dynamic.DynamicClient(ApiClient()), namespace or current_ns)  # type: ignore[no-untyped-call]

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise Unavailable(
                f"The cluster does not serve {api_version} {kind}: install what provides it (KServe, Knative, KEDA, "
                "the Prometheus Operator) or pick another --target/--autoscaler"
            ) from None

    def _namespace(self, resource: Any, manifest: Manifest | None = None) -> str | None:
        if not resource.namespaced:
            return None
        return (manifest or {}).get("metadata", {}).get("namespace") or self.namespace

    def apply(self, manifest: Manifest) -> dict[str, Any]:
        resource = self._resource(manifest["apiVersion"], manifest["kind"])
        result = self.client.server_side_apply(
            resource,
            body=manifest,
            namespace=self._namespace(resource, manifest),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return dict(result.to_dict())

    def get(self, ref: Ref) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(ref[0], ref[1])
        try:
            return dict(self.client.get(resource, name=ref[2], namespace=self._namespace(resource)).to_dict())
        except NotFoundError:
            return None

    def patch(self, ref: Ref, body: dict[str, Any]) -> None:
        resource = self._resource(ref[0], ref[1])
        self.client.patch(
            resource, body=body, name=ref[2], namespace=self._namespace(resource), content_type=MERGE_PATCH
        )

    def delete(self, ref: Ref) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self._resource(ref[0], ref[1])
        try:
            self.client.delete(resource, name=ref[2], namespace=self._namespace(resource))
        except NotFoundError:
            pass

    def require(self, ref: Ref) -> dict[str, Any]:
        found = self.get(ref)
        if found is None:
            raise NotFound(f"{ref[1].lower()}/{ref[2]} not found in namespace {self.namespace}")
        return found


def ref_of(manifest: Manifest) -> Ref:
    return manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"]


def apply_change(cluster: Cluster, change: Change) -> None:
    for ref, body in change.patches:
        cluster.patch(ref, body)
    for ref in change.deletes:
        cluster.delete(ref)


def wait_for_rollout(
    cluster: Cluster,
    manifests: list[Manifest],
    *,
    timeout_s: float,
    poll_s: float = 2.0,
    report: Callable[[RolloutStatus], None] = lambda status: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RolloutStatus]:
    """Poll every object that rolls out until each is done or failed, or ``timeout_s`` passes."""
    pending = [ref_of(m) for m in manifests if rollout_status(m) is not None or m["kind"] == "Deployment"]
    deadline = clock() + timeout_s
    last: dict[Ref, RolloutStatus] = {}
    while pending:
        for ref in list(pending):
            live = cluster.get(ref)
            status = (
                rollout_status(live) if live is not None else RolloutStatus("progressing", f"{ref[2]}: not found yet")
            )
            assert status is not None
            if last.get(ref) != status:
                report(status)
            last[ref] = status
            if status.finished:
                pending.remove(ref)
        if not pending:
            break
        if clock() >= deadline:
            for ref in pending:
                last[ref] = RolloutStatus("failed", f"timed out after {timeout_s:g} s: {last[ref].message}")
            break
        sleep(poll_s)
    return list(last.values())


def _incluster_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"
