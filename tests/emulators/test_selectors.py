"""Label and field selectors of every form, through the client, and one cluster-wide list per sweep."""
import pytest
from kubernetes.client.rest import ApiException

from emulators.kube.errors import ApiError
from emulators.kube.selectors import labels_match, parse_labels
from tests.emulators.manifests import pod

LABELS = {"blog-1": {"app": "ghost", "tier": "web", "portal/subscription": "1"},
          "shop-1": {"app": "wordpress", "tier": "web", "portal/subscription": "2"},
          "shop-db": {"app": "wordpress", "tier": "db", "portal/subscription": "2", "stateful": ""},
          "stray": {"app": "other"}}


@pytest.fixture
def pods(core, namespace):
    for name, labels in LABELS.items():
        core.create_namespaced_pod(namespace, pod(name, namespace, labels))
    return namespace


@pytest.mark.parametrize("selector,expected", [
    ("app=ghost", {"blog-1"}),
    ("app==wordpress", {"shop-1", "shop-db"}),
    ("app!=wordpress", {"blog-1", "stray"}),
    ("tier in (web,db)", {"blog-1", "shop-1", "shop-db"}),
    ("tier in (db)", {"shop-db"}),
    ("tier notin (web)", {"shop-db", "stray"}),
    ("tier", {"blog-1", "shop-1", "shop-db"}),
    ("!tier", {"stray"}),
    ("stateful", {"shop-db"}),
    ("app=wordpress,tier=web", {"shop-1"}),
    ("app in (wordpress, ghost) , tier notin (db)", {"blog-1", "shop-1"}),
    ("portal/subscription=2,!stateful", {"shop-1"}),
    ("", {"blog-1", "shop-1", "shop-db", "stray"}),
])
def test_label_selectors(core, pods, selector, expected):
    names = {p.metadata.name for p in core.list_namespaced_pod(pods, label_selector=selector).items}
    assert names == expected


@pytest.mark.parametrize("selector,expected", [
    ("metadata.name=shop-1", {"shop-1"}),
    ("metadata.name!=shop-1,metadata.name!=stray", {"blog-1", "shop-db"}),
    ("metadata.namespace=customer-7", {"blog-1", "shop-1", "shop-db", "stray"}),
    ("metadata.namespace=elsewhere", set()),
])
def test_field_selectors(core, pods, selector, expected):
    names = {p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector=selector).items}
    assert names == expected


def test_pods_by_node_and_phase(core, pods):
    node = core.read_namespaced_pod("blog-1", pods).spec.node_name
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    assert "blog-1" in {p.metadata.name for p in on_node}
    assert len(core.list_pod_for_all_namespaces(field_selector="status.phase=Pending").items) == 4


@pytest.mark.parametrize("selector", ["app in web", "app=(x)", "=x", "tier in (a", "a b"])
def test_bad_label_selectors_are_400(core, pods, selector):
    with pytest.raises(ApiException) as error:
        core.list_namespaced_pod(pods, label_selector=selector)
    assert error.value.status == 400


def test_unsupported_field_is_400(core, pods):
    with pytest.raises(ApiException) as error:
        core.list_namespaced_pod(pods, field_selector="spec.containers=web")
    assert error.value.status == 400 and "field label not supported" in error.value.body


def test_cluster_wide_list_is_one_request(cluster, core, pods):
    core.create_namespace({"metadata": {"name": "customer-8"}})
    core.create_namespaced_pod("customer-8", pod("other", "customer-8", {"app.kubernetes.io/managed-by": "portal"}))
    core.create_namespaced_pod(pods, pod("mine", pods, {"app.kubernetes.io/managed-by": "portal"}))
    cluster.requests.clear()
    listed = core.list_pod_for_all_namespaces(label_selector="app.kubernetes.io/managed-by=portal")
    assert {(p.metadata.namespace, p.metadata.name) for p in listed.items} == \
           {("customer-8", "other"), (pods, "mine")}
    assert [(r.method, r.path, r.query) for r in cluster.requests] == \
           [("GET", "/api/v1/pods", "labelSelector=app.kubernetes.io/managed-by=portal")]


def test_list_pages_with_limit_and_continue(core, pods):
    first = core.list_namespaced_pod(pods, limit=3)
    assert len(first.items) == 3 and first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_pod(pods, limit=3, _continue=first.metadata._continue)
    assert [p.metadata.name for p in first.items + rest.items] == sorted(LABELS)
    assert rest.metadata._continue is None


def test_selector_semantics_directly():
    assert labels_match(parse_labels("a!=b"), {})  # a missing label is "not b"
    assert labels_match(parse_labels("a notin (b)"), {})
    assert not labels_match(parse_labels("a in (b)"), {})
    assert labels_match(parse_labels("n>3,n<10"), {"n": "5"})
    with pytest.raises(ApiError):
        parse_labels("a in (b,")
