"""Every app sends email: its rendered Secret, env, ConfigMap and egress per app and plan, as its docs name them."""
import hashlib
import json
import shutil
import subprocess

import kubernetes_validate
import pytest

from portal.catalog.parameters import settings_clean
from portal.catalog.templates import TemplateError, template_load
from portal.config import ROOT
from portal.provisioning.mail import MailServer, address_not_public, instance_mail_sender
from portal.provisioning.manifests import instance_manifests, instance_names, namespace_manifests
from portal.provisioning.network_policy import Address, Pod, egress_allowed, pods_of
from tests.provisioning.test_manifests import OPTIONS, SECRETS, TEMPLATES, by_kind, env_of

pytestmark = pytest.mark.smoke
CASES = [(slug, plan.slug) for slug, template in TEMPLATES.items() for plan in template.plans]
PLUGIN = ROOT / "service-templates" / "wordpress" / "portal-mail.php"
PHP_TEST = ROOT / "tests" / "provisioning" / "php" / "portal_mail_test.php"

RELAY = MailServer(host="relay.hosting.example", port=587, tls_mode="starttls", username="relay-login-7f3a",
                   password="relay-password-Qx9w", sender="noreply@toko-ana.apps.example.id",
                   addresses=("10.20.30.40",))
OWN = MailServer(host="smtp.toko.example", port=465, tls_mode="tls", username="ana@toko.example",
                 password="own-password-Zk2p", sender="halo@toko.example", addresses=("203.0.113.9", "2001:db8::25"))
PLAIN = MailServer(host="198.51.100.7", port=2525, tls_mode="none", username="", password="", sender="a@b.example",
                   addresses=("198.51.100.7",))

# What each app's documentation names (FACTS-ADDONS.md §1-3) and what the portal must render for RELAY.
DOCUMENTED = {
    "ghost": {"mail__transport": "SMTP", "mail__options__host": "relay.hosting.example", "mail__options__port": "587",
              "mail__options__secure": "false", "mail__options__requireTLS": "true",
              "mail__options__ignoreTLS": "false", "mail__from": "noreply@toko-ana.apps.example.id",
              "mail__options__auth__user": ("secret", "mail_username"),
              "mail__options__auth__pass": ("secret", "mail_password")},
    "n8n": {"N8N_EMAIL_MODE": "smtp", "N8N_SMTP_HOST": "relay.hosting.example", "N8N_SMTP_PORT": "587",
            "N8N_SMTP_SENDER": "noreply@toko-ana.apps.example.id", "N8N_SMTP_SSL": "false",
            "N8N_SMTP_STARTTLS": "true", "N8N_SMTP_USER": ("secret", "mail_username"),
            "N8N_SMTP_PASS": ("secret", "mail_password")},
    "wordpress": {"PORTAL_SMTP_HOST": "relay.hosting.example", "PORTAL_SMTP_PORT": "587", "PORTAL_SMTP_TLS": "starttls",
                  "PORTAL_SMTP_FROM": "noreply@toko-ana.apps.example.id",
                  "PORTAL_SMTP_USER": ("secret", "mail_username"), "PORTAL_SMTP_PASSWORD": ("secret", "mail_password")},
}


def render(slug: str, plan_slug: str = "starter", mail: MailServer | None = RELAY, **options) -> list[dict]:
    template = TEMPLATES[slug]
    names = instance_names(namespace_prefix="customer-", user_id=7, service_slug=slug, subscription_id=42,
                           subdomain="toko-ana", cluster_domain=OPTIONS.cluster_domain)
    return instance_manifests(template=template, plan=template.plan(plan_slug), settings=settings_clean(template, {}),
                              secrets=SECRETS[slug], names=names, subscription_id=42, options=OPTIONS, mail=mail,
                              **options)


def mail_env(slug: str, manifests: list[dict]) -> dict:
    env = env_of(by_kind(manifests, "Deployment", "-app"))
    return {name: (("secret", value["secretKeyRef"]["key"]) if isinstance(value, dict) else value)
            for name, value in env.items() if name in DOCUMENTED[slug]}


@pytest.mark.parametrize("mail", [RELAY, OWN, PLAIN, None], ids=["relay", "own", "plain", "none"])
@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_every_manifest_with_mail_is_schema_valid(slug, plan_slug, mail):
    manifests = namespace_manifests(namespace="customer-7", user_id=7, plans=[TEMPLATES[slug].plan(plan_slug)],
                                    options=OPTIONS) + render(slug, plan_slug, mail)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.34", strict=True)
        assert len(manifest["metadata"]["name"]) <= 63


@pytest.mark.parametrize("slug", sorted(DOCUMENTED))
def test_each_app_gets_its_documented_variables_with_credentials_from_the_secret(slug):
    manifests = render(slug)
    assert mail_env(slug, manifests) == DOCUMENTED[slug]
    secret = by_kind(manifests, "Secret")
    assert secret["stringData"]["mail_username"] == RELAY.username
    assert secret["stringData"]["mail_password"] == RELAY.password
    outside_secret = json.dumps([m for m in manifests if m["kind"] != "Secret"])
    assert RELAY.password not in outside_secret and RELAY.username not in outside_secret
    # The database never sends mail: nothing of the server reaches it.
    assert not set(env_of(by_kind(manifests, "StatefulSet", "-db"))) & set(DOCUMENTED[slug])


def test_tls_modes_become_each_apps_own_switches():
    ghost, n8n, wordpress = (mail_env(s, render(s, mail=OWN)) for s in ("ghost", "n8n", "wordpress"))
    assert (ghost["mail__options__secure"], ghost["mail__options__requireTLS"], ghost["mail__options__ignoreTLS"],
            ghost["mail__options__port"], ghost["mail__from"]) == ("true", "false", "false", "465", "halo@toko.example")
    assert (n8n["N8N_SMTP_SSL"], n8n["N8N_SMTP_STARTTLS"]) == ("true", "false")
    assert wordpress["PORTAL_SMTP_TLS"] == "tls"
    ghost, n8n = (mail_env(s, render(s, mail=PLAIN)) for s in ("ghost", "n8n"))
    assert (ghost["mail__options__secure"], ghost["mail__options__requireTLS"],
            ghost["mail__options__ignoreTLS"]) == ("false", "false", "true")
    assert (n8n["N8N_SMTP_SSL"], n8n["N8N_SMTP_STARTTLS"]) == ("false", "false")


@pytest.mark.parametrize("slug", sorted(DOCUMENTED))
def test_without_a_server_no_mail_settings_and_the_old_login_is_emptied(slug):
    manifests = render(slug, mail=None)
    assert mail_env(slug, manifests) == {}
    secret = by_kind(manifests, "Secret")
    assert secret["stringData"]["mail_username"] == "" and secret["stringData"]["mail_password"] == ""
    assert by_kind(manifests, "NetworkPolicy", "-mail")["spec"]["egress"] == []


def test_the_applied_secret_never_names_the_customers_own_password():
    """It is written by a merge patch alone, so that no apply removes it or writes back an older value."""
    template = TEMPLATES["n8n"]
    names = instance_names(namespace_prefix="customer-", user_id=7, service_slug="n8n", subscription_id=42,
                           subdomain="toko-ana", cluster_domain=OPTIONS.cluster_domain)
    manifests = instance_manifests(template=template, plan=template.plan("starter"), settings={},
                                   secrets={**SECRETS["n8n"], "own_mail_password": "kept"}, names=names,
                                   subscription_id=42, options=OPTIONS, mail=OWN)
    assert "own_mail_password" not in by_kind(manifests, "Secret")["stringData"]
    assert by_kind(manifests, "Secret")["stringData"]["mail_password"] == OWN.password


@pytest.mark.parametrize("plan_slug", [p.slug for p in TEMPLATES["wordpress"].plans])
def test_wordpress_gets_the_plugin_from_a_configmap_copied_in_as_its_own_user(plan_slug):
    manifests = render("wordpress", plan_slug)
    config_map = by_kind(manifests, "ConfigMap", "-app-mail")
    assert config_map["data"] == {"portal-mail.php": PLUGIN.read_text()}
    pod = by_kind(manifests, "Deployment", "-app")["spec"]["template"]
    init = pod["spec"]["initContainers"][0]
    app = pod["spec"]["containers"][0]
    assert init["image"] == app["image"]  # no other image to pull or pin
    assert init["command"][-3:] == ["/var/www/html/wp-content/mu-plugins", "portal-mail.php", "/portal-mail-plugin"]
    assert {"name": "html", "mountPath": "/var/www/html"} in init["volumeMounts"]
    assert init["securityContext"] == app["securityContext"]
    assert {"name": "mail-plugin", "configMap": {"name": config_map["metadata"]["name"]}} in pod["spec"]["volumes"]
    assert pod["metadata"]["annotations"]["portal/mail-plugin-sha256"] == hashlib.sha256(
        PLUGIN.read_bytes()).hexdigest()
    assert not any(m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-mail")
                   for m in render("ghost") + render("n8n"))


def test_the_init_container_really_copies_the_plugin(tmp_path):
    """The init container's own shell command, run here, puts the file where WordPress loads must-use plugins."""
    init = by_kind(render("wordpress"), "Deployment", "-app")["spec"]["template"]["spec"]["initContainers"][0]
    source, site = tmp_path / "configmap", tmp_path / "html"
    source.mkdir()
    (source / "portal-mail.php").write_text("<?php // plugin")
    command = init["command"][:-3] + [str(site / "wp-content/mu-plugins"), "portal-mail.php", str(source)]
    subprocess.run(command, check=True, timeout=10)
    assert (site / "wp-content/mu-plugins/portal-mail.php").read_text() == "<?php // plugin"
    assert [p.name for p in (site / "wp-content/mu-plugins").iterdir()] == ["portal-mail.php"]


# -- egress -----------------------------------------------------------------------------------------

def _pods(manifests):
    return {pod.labels["app.kubernetes.io/component"]: pod for pod in pods_of(manifests)}


@pytest.mark.parametrize("slug, plan_slug", CASES)
def test_egress_allows_exactly_the_mail_servers_addresses_and_port(slug, plan_slug):
    # The relay at a private address (the operator's network), which the internet rule keeps customers out of.
    manifests = namespace_manifests(namespace="customer-7", user_id=7, plans=[TEMPLATES[slug].plan(plan_slug)],
                                    options=OPTIONS) + render(slug, plan_slug, RELAY)
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    pods = _pods(manifests)
    assert egress_allowed(policies, pods["app"], Address("10.20.30.40"), 587)
    assert not egress_allowed(policies, pods["app"], Address("10.20.30.40"), 25)
    assert not egress_allowed(policies, pods["app"], Address("10.20.30.41"), 587)
    assert not egress_allowed(policies, pods["app"], Address("10.20.30.40"), 587, "UDP")
    assert not egress_allowed(policies, pods["db"], Address("10.20.30.40"), 587)
    other_instance = Pod("customer-7", {**pods["app"].labels, "app.kubernetes.io/instance": "other-43"})
    assert not egress_allowed(policies, other_instance, Address("10.20.30.40"), 587)
    # Switched away (no server): the private address is closed again.
    closed = [m for m in namespace_manifests(namespace="customer-7", user_id=7,
                                             plans=[TEMPLATES[slug].plan(plan_slug)], options=OPTIONS)
              + render(slug, plan_slug, None) if m["kind"] == "NetworkPolicy"]
    assert not egress_allowed(closed, pods["app"], Address("10.20.30.40"), 587)


def test_every_resolved_address_of_both_families_gets_its_own_block():
    policy = by_kind(render("ghost", mail=OWN), "NetworkPolicy", "-mail")
    assert policy["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": "203.0.113.9/32"}},
                                                {"ipBlock": {"cidr": "2001:db8::25/128"}}],
                                         "ports": [{"protocol": "TCP", "port": 465}]}]
    pods = _pods(render("ghost", mail=OWN))
    assert egress_allowed([policy], pods["app"], Address("2001:db8::25"), 465)
    assert not egress_allowed([policy], pods["app"], Address("2001:db8::26"), 465)


def test_the_evaluator_reads_single_address_blocks_and_ports_as_kubernetes_does():
    source = Pod("ns", {"app": "x"})
    policy = {"kind": "NetworkPolicy", "metadata": {"namespace": "ns"},
              "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["x"]}]},
                       "policyTypes": ["Egress"],
                       "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.1/32"}}], "ports": [{"port": 587}]}]}}
    assert egress_allowed([policy], source, Address("192.0.2.1"), 587)
    assert not egress_allowed([policy], source, Address("192.0.2.1"), 588)
    assert not egress_allowed([policy], source, Address("192.0.2.2"), 587)
    assert not egress_allowed([policy], source, Address("::ffff:192.0.2.1"), 587)
    assert egress_allowed([policy], Pod("ns", {"app": "y"}), Address("192.0.2.2"), 25)  # not selected: open


def test_private_and_internal_addresses_are_told_apart_from_public_ones():
    excepted = ("10.0.0.0/8", "100.64.0.0/10", "10.42.0.0/16")
    for ip in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.0.5", "::1", "fe80::1", "100.64.0.1", "0.0.0.0"):
        assert address_not_public(ip, excepted), ip
    for ip in ("8.8.8.8", "2606:4700::1111", "103.10.20.30"):
        assert not address_not_public(ip, excepted), ip


def test_the_sender_is_on_the_instances_own_host_unless_operators_name_a_domain():
    assert instance_mail_sender(host="toko.apps.example.id", subdomain="toko") == "noreply@toko.apps.example.id"
    assert instance_mail_sender(host="toko.apps.example.id", subdomain="toko",
                                sender_domain="mail.hosting.id") == "toko@mail.hosting.id"
    # The customer's verified domain comes before both.
    assert instance_mail_sender(host="toko.apps.example.id", subdomain="toko", sender_domain="mail.hosting.id",
                                customer_domain="toko-ana.co.id") == "noreply@toko-ana.co.id"


# -- the template schema ------------------------------------------------------------------------------

def _template_with(tmp_path, edit) -> None:
    text = (ROOT / "service-templates" / "n8n.yaml").read_text()
    (tmp_path / "n8n.yaml").write_text(edit(text))
    return template_load(tmp_path / "n8n.yaml")


def test_mail_placeholders_and_secrets_belong_to_mail_env_only(tmp_path):
    with pytest.raises(TemplateError, match="mail.host"):
        _template_with(tmp_path, lambda t: t.replace('{name: N8N_PORT, value: "5678"}',
                                                     '{name: N8N_PORT, value: "{{ mail.host }}"}'))
    with pytest.raises(TemplateError, match="mail_password"):
        _template_with(tmp_path, lambda t: t.replace('{name: N8N_PORT, value: "5678"}',
                                                     '{name: N8N_PORT, secret: mail_password}'))
    with pytest.raises(TemplateError, match="in both env and mail_env"):
        _template_with(tmp_path, lambda t: t.replace('{name: N8N_PORT, value: "5678"}',
                                                     '{name: N8N_SMTP_HOST, value: "x"}'))


def test_a_plugin_source_outside_the_templates_folder_is_refused(tmp_path):
    text = (ROOT / "service-templates" / "wordpress.yaml").read_text()
    (tmp_path / "wordpress.yaml").write_text(text.replace("source: wordpress/portal-mail.php",
                                                          "source: ../../etc/passwd"))
    with pytest.raises(TemplateError, match="outside the folder"):
        template_load(tmp_path / "wordpress.yaml")
    (tmp_path / "wordpress.yaml").write_text(text)
    with pytest.raises(TemplateError, match="cannot read"):
        template_load(tmp_path / "wordpress.yaml")


# -- the WordPress plugin under Debian's PHP ------------------------------------------------------------

PHP = shutil.which("php")


def test_php_is_installed_for_the_plugin_tests():
    assert PHP, "php-cli is missing: `make chromium` (or apt-get install php-cli) installs it"


def test_the_plugin_is_valid_php():
    result = subprocess.run([PHP, "-l", str(PLUGIN)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_plugin_points_phpmailer_at_the_server_from_the_environment():
    result = subprocess.run([PHP, str(PHP_TEST), str(PLUGIN)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["ok", "starttls", "ok", "tls", "ok", "none", "ok", "unset"]


def test_the_php_test_fails_a_plugin_that_gets_tls_wrong(tmp_path):
    broken = tmp_path / "portal-mail.php"
    broken.write_text(PLUGIN.read_text().replace("$phpmailer->SMTPSecure = 'ssl';", "$phpmailer->SMTPSecure = 'tls';"))
    result = subprocess.run([PHP, str(PHP_TEST), str(broken)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "FAIL tls: SMTPSecure" in result.stderr
