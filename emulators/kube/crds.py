"""The custom resources' schemas the emulator admits objects against (cert-manager's Certificate), made strict.

The CRD files are kept in the repository (schemas/, copied from the projects' release tags); a CRD's
openAPIV3Schema allows unknown fields unless told otherwise, while the API server prunes them: validating with
`additionalProperties: false` wherever properties are listed reports what a real server would silently drop.
"""
import functools
from pathlib import Path

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parents[2] / "portal" / "provisioning" / "schemas"
CRD_FILES = {("cert-manager.io/v1", "Certificate"):
             SCHEMAS / "cert-manager" / "cert-manager.io_certificates.yaml"}


def _strict(schema):
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def validator(api_version: str, kind: str):
    """A jsonschema validator for the served version's openAPIV3Schema, or None for a kind with no CRD here."""
    path = CRD_FILES.get((api_version, kind))
    if path is None:
        return None
    crd = yaml.safe_load(path.read_text())
    version = api_version.split("/")[-1]
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served"))
    schema = _strict(served["schema"]["openAPIV3Schema"])
    # metadata is the API server's ObjectMeta, not described by the CRD.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate(obj: dict) -> None:
    """Raises jsonschema.ValidationError for an object its CRD schema refuses."""
    found = validator(obj.get("apiVersion", ""), obj.get("kind", ""))
    if found is None:
        raise LookupError(f"no CRD schema for {obj.get('apiVersion')} {obj.get('kind')}")
    error = jsonschema.exceptions.best_match(found.iter_errors(obj))
    if error is not None:
        raise error
