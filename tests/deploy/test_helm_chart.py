"""The chart lints, renders valid Kubernetes objects, and wires what the worker needs."""

import json
import re

import kubernetes_validate
import pytest
from helm_render import (CHART, KUBE_VERSIONS, NAMESPACE, PRODUCTION, RELEASE, containers, env_of,
                      helm)

from orderstream.runtime.app import make_app
from orderstream.settings import CONTEXTS, Settings

SECRET_SETTINGS = ("ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS", "ORDERSTREAM_KAFKA_SASL_USERNAME",
                   "ORDERSTREAM_KAFKA_SASL_PASSWORD", "ORDERSTREAM_API_TOKEN", "ORDERSTREAM_API_READ_TOKEN")
TLS_FILES = ("ORDERSTREAM_KAFKA_SSL_CAFILE", "ORDERSTREAM_KAFKA_SSL_CERTFILE",
             "ORDERSTREAM_KAFKA_SSL_KEYFILE")


def name(context: str) -> str:
    return f"{RELEASE}-orderstream-{context}"


def worker(render, context: str) -> dict:
    return containers(render.named("StatefulSet", name(context)))[0]


def pod_annotations(render, context: str) -> dict:
    return render.named("StatefulSet", name(context))["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("values", [(), ("-f", str(PRODUCTION))], ids=["default", "production"])
def test_chart_lints_clean(values):
    helm("lint", str(CHART), "--strict", "--kube-version", KUBE_VERSIONS[0], *values)


def test_every_manifest_is_a_valid_kubernetes_object(render):
    for doc in render.docs:
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{render.name}: {doc['kind']} {doc['metadata']['name']} is invalid for "
                            f"Kubernetes {version}: {exc.message} at {list(exc.path)}", pytrace=False)


def test_every_context_runs_its_worker_with_a_headless_and_an_api_service(render):
    for context in CONTEXTS:
        sts = render.named("StatefulSet", name(context))
        assert containers(sts)[0]["args"] == ["worker", context]
        headless = render.named("Service", sts["spec"]["serviceName"])
        assert headless["spec"]["clusterIP"] == "None"
        api = render.named("Service", name(context))
        for service in (headless, api):
            assert service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
        pdb = render.named("PodDisruptionBudget", name(context))
        assert pdb["spec"]["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    assert len(render.of_kind("StatefulSet")) == len(CONTEXTS)


def test_production_runs_three_replicas_of_order_and_payment_with_standbys(renders):
    for context in ("order", "payment"):
        sts = renders["production"].named("StatefulSet", name(context))
        assert sts["spec"]["replicas"] == 3
        env = env_of(containers(sts)[0])
        assert env["ORDERSTREAM_TABLE_STANDBY_REPLICAS"]["value"] == "1"
        assert env["ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"


def test_probes_and_the_metrics_scrape_hit_the_workers_endpoints_on_its_web_port(render):
    served = set(make_app("order", Settings()).web.views)
    for context in CONTEXTS:
        c = worker(render, context)
        port = c["ports"][0]
        env = env_of(c)
        assert env["ORDERSTREAM_WEB_PORT"]["value"] == str(port["containerPort"])
        assert env["ORDERSTREAM_WEB_HOST"]["value"] == "0.0.0.0"
        probes = {k: c[k]["httpGet"] for k in ("readinessProbe", "livenessProbe", "startupProbe")}
        assert probes["readinessProbe"]["path"] == "/health"
        assert probes["livenessProbe"]["path"] == "/live"
        for probe in probes.values():
            assert probe["path"] in served, f"the worker serves {sorted(served)}, not {probe['path']}"
            assert probe["port"] == port["name"]
        scrape = pod_annotations(render, context)
        assert scrape["prometheus.io/path"] in served
        assert (scrape["prometheus.io/scrape"], scrape["prometheus.io/port"]) == ("true", str(port["containerPort"]))


def test_each_pod_advertises_its_stable_dns_name_for_table_route(render):
    for context in CONTEXTS:
        sts = render.named("StatefulSet", name(context))
        env = env_of(containers(sts)[0])
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        names = list(env)
        assert names.index("POD_NAME") < names.index("ORDERSTREAM_WEB_ADVERTISED_HOST")
        assert env["ORDERSTREAM_WEB_ADVERTISED_HOST"]["value"] == (
            f"$(POD_NAME).{sts['spec']['serviceName']}.{NAMESPACE}.svc.cluster.local")


def test_each_pod_is_a_static_group_member_named_after_itself(render):
    """A pod restarted in place rejoins its consumer group as itself: no rebalance."""
    for context in CONTEXTS:
        env = env_of(containers(render.named("StatefulSet", name(context)))[0])
        names = list(env)
        assert names.index("POD_NAME") < names.index("ORDERSTREAM_GROUP_INSTANCE_ID")
        assert env["ORDERSTREAM_GROUP_INSTANCE_ID"]["value"] == "$(POD_NAME)"


def test_the_datadir_is_on_the_persistent_volume(render):
    for context in CONTEXTS:
        sts = render.named("StatefulSet", name(context))
        c = containers(sts)[0]
        datadir = env_of(c)["ORDERSTREAM_DATADIR"]["value"]
        claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts.get(datadir) in claims, f"{context}: {datadir} is not on a PersistentVolume"


def test_secrets_are_referenced_never_inlined(render):
    assert not render.of_kind("Secret")
    assert [c["metadata"]["name"] for c in render.of_kind("ConfigMap")] in ([], [f"{RELEASE}-orderstream-dashboard"])
    owners = render.of_kind("StatefulSet") + render.of_kind("Job")
    for owner in owners:
        pod = owner["spec"]["template"]["spec"]
        secret_volumes = {v["name"]: v["secret"]["secretName"] for v in pod.get("volumes", [])
                          if "secret" in v}
        for c in pod["containers"]:
            env = env_of(c)
            assert "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS" in env
            for key in SECRET_SETTINGS:
                if key in env:
                    assert "value" not in env[key] and "secretKeyRef" in env[key]["valueFrom"], key
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            for key in TLS_FILES:
                if key in env:
                    directory = env[key]["value"].rsplit("/", 1)[0]
                    assert mounts.get(directory) in secret_volumes, f"{key} is not in a mounted Secret"


def test_production_takes_sasl_credentials_tls_and_the_api_tokens_from_secrets(renders):
    env = env_of(worker(renders["production"], "order"))
    refs = {k: env[k]["valueFrom"]["secretKeyRef"]["name"] for k in SECRET_SETTINGS}
    assert refs == {"ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": "orderstream-kafka",
                    "ORDERSTREAM_KAFKA_SASL_USERNAME": "orderstream-kafka-order",
                    "ORDERSTREAM_KAFKA_SASL_PASSWORD": "orderstream-kafka-order",
                    "ORDERSTREAM_API_TOKEN": "orderstream-api-token",
                    "ORDERSTREAM_API_READ_TOKEN": "orderstream-api-token"}
    assert env["ORDERSTREAM_API_READ_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "api-read-token"
    assert "ORDERSTREAM_KAFKA_SSL_CAFILE" in env


def test_each_context_logs_in_to_kafka_as_its_own_user_and_only_the_topics_job_as_admin(renders):
    render = renders["production"]
    for owner in render.of_kind("StatefulSet") + render.of_kind("Job"):
        context = owner["metadata"]["name"].removeprefix(f"{RELEASE}-orderstream-")
        want = "orderstream-kafka-admin" if owner["kind"] == "Job" else f"orderstream-kafka-{context}"
        env = env_of(containers(owner)[0])
        for key in ("ORDERSTREAM_KAFKA_SASL_USERNAME", "ORDERSTREAM_KAFKA_SASL_PASSWORD"):
            assert env[key]["valueFrom"]["secretKeyRef"]["name"] == want, (owner["metadata"]["name"], key)
    (job,) = render.of_kind("Job")
    config = env_of(containers(job)[0])
    assert config["ORDERSTREAM_KAFKA_USER_PREFIX"]["value"] == "orderstream-"  # whom it grants the ACLs
    assert config["ORDERSTREAM_KAFKA_MANAGE_ACLS"]["value"] == "true"


def test_without_sasl_no_pod_references_a_kafka_user(renders):
    default = renders["default"]
    for owner in default.of_kind("StatefulSet") + default.of_kind("Job"):
        assert "ORDERSTREAM_KAFKA_SASL_USERNAME" not in env_of(containers(owner)[0])


def test_pods_run_as_non_root_and_stop_gracefully(render):
    for owner in render.of_kind("StatefulSet") + render.of_kind("Job"):
        pod = owner["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for sts in render.of_kind("StatefulSet"):
        assert sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60


def test_topics_are_applied_by_a_hook_job_before_install_and_upgrade(render):
    (job,) = render.of_kind("Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert containers(job)[0]["args"] == ["topics", "apply"]


def test_order_api_ingress_in_production(renders):
    ingress = renders["production"].named("Ingress", name("order"))
    (rule,) = ingress["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == name("order")
    assert not renders["default"].of_kind("Ingress")


def test_the_grafana_dashboard_ships_as_a_configmap_for_grafanas_sidecar(renders):
    (dashboard,) = renders["production"].of_kind("ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(dashboard["data"]["orderstream.json"])
    assert shipped == json.loads((CHART / "dashboards" / "orderstream.json").read_text())
    assert shipped["uid"] == "orderstream" and shipped["panels"]
    assert not renders["default"].of_kind("ConfigMap")


def test_tracing_points_every_worker_at_the_collector(renders):
    for context in CONTEXTS:
        env = env_of(worker(renders["production"], context))
        assert env["ORDERSTREAM_TRACING"]["value"] == "otlp"
        assert env["ORDERSTREAM_OTLP_ENDPOINT"]["value"] == "http://otel-collector.observability.svc:4318"
    assert env_of(worker(renders["default"], "order"))["ORDERSTREAM_TRACING"]["value"] == "off"


@pytest.mark.parametrize("setting, error", [
    ("config.tracing=jaeger", "/config/tracing"),
    ("config.tracing_sample_ratio=2", "/config/tracing_sample_ratio"),
    ("config.saga_mode=sagas", "/config/saga_mode"),
    ("config.topic_partitions=0", "/config/topic_partitions"),
    ("contexts.order.config.saga_mode=choreography", "additional properties 'saga_mode'"),
    ("contexts.shipping.replicas=2", "additional properties 'shipping'"),
    ("config.topic_min_insync_replicas=2", "must not exceed config.topic_replication_factor"),
])
def test_a_wrong_value_fails_with_a_message_naming_it(setting, error):
    with pytest.raises(pytest.fail.Exception, match=re.escape(error)):
        helm("template", RELEASE, str(CHART), "--set", setting)
