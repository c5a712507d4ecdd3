"""Kubernetes resource quantities ("250m", "1.5", "128Mi", "1G") parsed to numbers and written back."""
import re

_SUFFIXES = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$")


def parse(value) -> float:
    """The quantity in base units (cores, bytes); raises ValueError for something that is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression: {value!r}")
    number, exponent, suffix = match.groups()
    if exponent is not None:
        return float(number) * 10 ** int(exponent)
    return float(number) * _SUFFIXES[suffix or ""]


def cpu(cores: float) -> str:
    """CPU as the API writes it: whole cores plainly, else millicores."""
    if abs(cores - round(cores)) < 1e-9:
        return str(round(cores))
    return f"{round(cores * 1000)}m"


def memory(amount: float) -> str:
    """Bytes in the largest binary unit that divides them exactly."""
    amount = round(amount)
    for suffix in ("Gi", "Mi", "Ki"):
        if amount and amount % _SUFFIXES[suffix] == 0:
            return f"{amount // _SUFFIXES[suffix]}{suffix}"
    return str(amount)


def of(resource: str, amount: float) -> str:
    if resource.endswith("cpu"):
        return cpu(amount)
    if resource.endswith(("memory", "storage")):
        return memory(amount)
    return str(round(amount))
