"""Kubernetes resource quantities (``500m``, ``2``, ``512Mi``, ``1.5G``, ``1e3``) and the
``spec.resources`` requests/limits a Deployment states in Kubernetes' own form.

The grammar is the API server's (``k8s.io/apimachinery/pkg/api/resource``): a signed decimal
number, then a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal SI suffix (n u m "" k M G T P E), or
a decimal exponent (e3, E-2). Values are kept as the user wrote them (the API server keeps its
own canonical form); ``to_number`` gives the value for comparisons such as requests <= limits.
"""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<si>[numkMGTPE])|(?P<exp>[eE][+-]?\d+))?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_SI = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

GPU = "nvidia.com/gpu"
MAX_EXPONENT = 30  # far past any machine; the API server itself caps quantities near 2^63
# What a cnai Deployment may state; other extended resources would render to Kubernetes but mean
# nothing to the local runner, so they are refused rather than silently kept.
REQUEST_KEYS = ("cpu", "memory", "ephemeral-storage")
LIMIT_KEYS = ("cpu", "memory", "ephemeral-storage", GPU)


def to_number(text: str) -> Decimal:
    """The value of a quantity; ValueError naming the text when it is not one."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 1Gi)")
    try:
        value = Decimal(match.group("number"))
        if match.group("binary"):
            value *= _BINARY[match.group("binary")]
        elif match.group("si"):
            value *= _SI[match.group("si")]
        elif match.group("exp"):
            exponent = int(match.group("exp")[1:])
            if abs(exponent) > MAX_EXPONENT:  # 1e999999999 would take the decimal module's range
                raise ValueError(f"{text!r} is out of range")
            value = value.scaleb(exponent)
    except DecimalException:
        raise ValueError(f"{text!r} is out of range") from None
    return value


def normalise(value: object) -> str:
    """A quantity as text: YAML reads ``cpu: 2`` as an int and ``cpu: 0.5`` as a float."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 1Gi)")
    text = value if isinstance(value, str) else repr(value)
    number = to_number(text)
    if number < 0:
        raise ValueError(f"{text!r} is negative")
    return text.strip()


def check_resources(requests: dict[str, str], limits: dict[str, str]) -> None:
    """Kubernetes' own rules, checked before anything renders: known keys, whole GPUs, GPUs only
    as limits (the API server takes requests equal to limits for extended resources), and no
    request above its limit."""
    for where, given, allowed in (("requests", requests, REQUEST_KEYS), ("limits", limits, LIMIT_KEYS)):
        for key in given:
            if key not in allowed:
                hint = f"; set {GPU} under limits only" if key == GPU else ""
                raise ValueError(f"{where}.{key} is not supported: use {', '.join(allowed)}{hint}")
    if GPU in limits:
        gpus = to_number(limits[GPU])
        if gpus != gpus.to_integral_value() or gpus < 1:
            raise ValueError(f"limits.{GPU} must be a whole number of GPUs, got {limits[GPU]!r}")
    for key, request in requests.items():
        if key in limits and to_number(request) > to_number(limits[key]):
            raise ValueError(f"requests.{key} ({request}) must not exceed limits.{key} ({limits[key]})")
