"""/version (the gateway's first call and its health check), and no discovery: the gateway builds its own paths."""
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient


def test_version_says_it_is_an_emulator(api_client, gateway):
    info = client.VersionApi(api_client).get_code()
    assert info.git_version == "v1.34.0-portal-emulator"
    assert (info.major, info.minor) == ("1", "34")
    assert "emulator" in info.platform
    check = gateway.check()
    assert check.ok and check.version == "v1.34.0-portal-emulator"


@pytest.mark.parametrize("path", ["/api", "/apis", "/apis/apps", "/api/v1", "/apis/apps/v1",
                                  "/apis/metrics.k8s.io/v1beta1"])
def test_discovery_documents_are_not_served(cluster, path):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(cluster.url + path)
    assert error.value.code == 404


def test_a_discovering_client_is_told_plainly(api_client, tmp_path):
    with pytest.raises(ApiException) as error:
        DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    assert error.value.status == 404
