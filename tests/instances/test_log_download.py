"""The log download's file name comes from the instance's own names: a crafted component is a 404, never a header."""
import pytest


def test_download_names_the_file_after_the_subdomain_and_component(client, live):
    download = client.get(f"/instances/{live}/logs/download?component=db&previous=1")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="ana-flows-db-previous.log"'


@pytest.mark.parametrize("component", ['app"; filename="evil.html', "app\r\nSet-Cookie: a=b", "app\n", "../app",
                                       "nope"])
def test_an_unknown_component_is_not_found_and_never_echoed(client, live, component):
    download = client.get(f"/instances/{live}/logs/download", query_string={"component": component})
    assert download.status_code == 404
    assert "evil" not in download.headers.get("Content-Disposition", "")
    assert "Set-Cookie" not in download.headers or "a=b" not in download.headers["Set-Cookie"]
