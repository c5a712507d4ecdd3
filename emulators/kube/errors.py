"""API errors answered as Kubernetes `Status` objects, the way a real API server words them."""


class ApiError(Exception):
    """An error the API server answers with a Status body and an HTTP code."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def details_of(kind_info, name: str, kind: str | None = None, **more) -> dict:
    details = {"name": name, "kind": kind or kind_info.plural, **more}
    if kind_info.group:  # the real server leaves the core group out
        details["group"] = kind_info.group
    return details


def resource_ref(kind_info, name: str) -> str:
    """`deployments.apps "web"`: how the real server names an object in its messages."""
    return f'{kind_info.qualified_plural} "{name}"'


def not_found(kind_info, name: str) -> ApiError:
    return ApiError(404, "NotFound", f"{resource_ref(kind_info, name)} not found", details_of(kind_info, name))


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                    {"name": namespace, "kind": "namespaces"})


def already_exists(kind_info, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f"{resource_ref(kind_info, name)} already exists",
                    details_of(kind_info, name))


def conflict(kind_info, name: str, why: str = "the object has been modified; please apply your changes "
                                              "to the latest version and try again") -> ApiError:
    return ApiError(409, "Conflict", f"Operation cannot be fulfilled on {resource_ref(kind_info, name)}: {why}",
                    details_of(kind_info, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(kind_info, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; causes are (field path, message) pairs as the real server lists them."""
    summary = ", ".join(f"{field}: {message}" if field else message for field, message in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"  # how the server's error aggregate prints more than one
    return ApiError(422, "Invalid", f'{kind_info.kind}{kind_info.group_suffix} "{name}" is invalid: {summary}',
                    details_of(kind_info, name, kind_info.kind,
                             causes=[{"reason": "FieldValueInvalid", "message": message, "field": field}
                                     for field, message in causes]))


def forbidden(kind_info, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f"{resource_ref(kind_info, name)} is forbidden: {why}",
                    details_of(kind_info, name))
