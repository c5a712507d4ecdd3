"""The one gateway to image registries: a tag's manifest digest over the Docker Registry HTTP API v2."""
import hashlib
import ipaddress
import re
from dataclasses import dataclass

import requests

DOCKER_HUB_URL = "https://registry-1.docker.io"
# Asked for in this order: a multi-platform index or list first, so the digest is the one `docker pull name:tag`
# resolves on every platform; without these a registry may answer with a schema-1 manifest and another digest.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TIMEOUT_SECONDS = 20
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """The registry could not give a digest; the message says which image and why."""


@dataclass(frozen=True)
class Repository:
    base_url: str  # scheme and host of the registry's API
    path: str  # the repository inside it (library/ghost)


def repository_of(name: str, docker_hub_url: str = DOCKER_HUB_URL) -> Repository:
    """Where an image name lives, as Docker reads it: a first part with a dot or a port, or `localhost`, is a
    registry host; anything else is on Docker Hub, where a one-part name is an official image under library/."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host = first.split(":")[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        # Docker itself talks plain HTTP only to registries on loopback (its default insecure range 127.0.0.0/8).
        return Repository(f"{'http' if loopback else 'https'}://{first}", rest)
    return Repository(docker_hub_url.rstrip("/"), name if rest else f"library/{name}")


def _challenge(header: str) -> dict[str, str]:
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return dict(_CHALLENGE_PARAM.findall(params))


class Registry:
    """Resolves tags to digests; one session, so a token fetched for a repository is reused for it."""

    def __init__(self, *, docker_hub_url: str = DOCKER_HUB_URL, session: requests.Session | None = None):
        self.docker_hub_url = docker_hub_url
        self.session = session or requests.Session()
        self.tokens: dict[str, str] = {}

    def digest(self, name: str, tag: str) -> str:
        """The digest `name:tag` resolves to now (HEAD of the manifest; GET when the header is missing)."""
        repository = repository_of(name, self.docker_hub_url)
        url = f"{repository.base_url}/v2/{repository.path}/manifests/{tag}"
        where = f"{name}:{tag} ({url})"
        response = self._request("HEAD", url, repository, where)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest:
            response = self._request("GET", url, repository, where)
            digest = response.headers.get("Docker-Content-Digest") or \
                "sha256:" + hashlib.sha256(response.content).hexdigest()
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type and media_type not in MANIFEST_TYPES:
            raise RegistryError(f"{where}: the registry answered with a {media_type} manifest, not one of the "
                                f"types asked for; its digest would not be the one a pull resolves")
        if not DIGEST.match(digest):
            raise RegistryError(f"{where}: the registry gave {digest!r}, which is not a sha256 digest")
        return digest

    def _request(self, method: str, url: str, repository: Repository, where: str) -> requests.Response:
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        key = f"{repository.base_url}/{repository.path}"
        for attempt in range(2):
            if key in self.tokens:
                headers["Authorization"] = f"Bearer {self.tokens[key]}"
            try:
                response = self.session.request(method, url, headers=headers, timeout=TIMEOUT_SECONDS,
                                                allow_redirects=True)
            except requests.RequestException as error:
                raise RegistryError(f"{where}: cannot reach the registry: {error}") from error
            if response.status_code == 401 and attempt == 0:
                self.tokens[key] = self._token(response.headers.get("WWW-Authenticate", ""), repository, where)
                continue
            break
        if response.status_code == 200:
            return response
        if response.status_code == 404:
            raise RegistryError(f"{where}: the registry has no such tag (HTTP 404)")
        if response.status_code == 401:
            raise RegistryError(f"{where}: the registry refused the pull token (HTTP 401)")
        if response.status_code == 429:
            raise RegistryError(f"{where}: the registry's rate limit was reached (HTTP 429); try again later")
        raise RegistryError(f"{where}: the registry answered HTTP {response.status_code}")

    def _token(self, header: str, repository: Repository, where: str) -> str:
        """The anonymous pull token the 401 challenge points to (Docker Hub: auth.docker.io/token)."""
        challenge = _challenge(header)
        if not challenge.get("realm"):
            raise RegistryError(f"{where}: the registry asks for credentials the portal does not have "
                                f"(WWW-Authenticate: {header or 'missing'})")
        params = {"scope": challenge.get("scope") or f"repository:{repository.path}:pull"}
        if challenge.get("service"):
            params["service"] = challenge["service"]
        try:
            response = self.session.get(challenge["realm"], params=params, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise RegistryError(f"{where}: cannot reach the token service {challenge['realm']}: {error}") from error
        if response.status_code != 200:
            raise RegistryError(f"{where}: the token service {challenge['realm']} refused an anonymous pull token "
                                f"(HTTP {response.status_code})")
        try:
            body = response.json()
        except ValueError:
            body = {}
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token:
            raise RegistryError(f"{where}: the token service {challenge['realm']} answered without a token")
        return token
