"""The cluster section: NATS urls need the postgres store; ${VAR} works; keys without cluster.nats warn."""

from __future__ import annotations

from .support import at, errors, load

PG = "store:\n  backend: postgres\n  dsn: postgresql://u@127.0.0.1/x\n"


def test_a_cluster_with_the_postgres_store_is_valid_and_takes_urls_from_the_environment() -> None:
    loaded = load(
        PG + "cluster:\n  nats: ['${NATS_A}', nats://127.0.0.1:4223]\n  node_id: n1\n", {"NATS_A": "nats://h:4222"}
    )
    assert loaded.warnings == []
    cluster = loaded.config.cluster
    assert cluster.nats == ["nats://h:4222", "nats://127.0.0.1:4223"]
    assert (cluster.node_id, cluster.stream, cluster.replicas, cluster.ack_wait_secs) == ("n1", "AXOCOATL", None, 30.0)


def test_cluster_nats_needs_the_postgres_store() -> None:
    issue = at(errors("cluster:\n  nats: [nats://127.0.0.1:4222]\n"), "cluster.nats")
    assert "needs store.backend: postgres" in issue.message
    assert issue.hint is not None and "backend: postgres" in issue.hint


def test_a_url_that_is_not_nats_is_an_error_naming_it() -> None:
    issue = at(errors(PG + "cluster:\n  nats: [127.0.0.1:4222]\n"), "cluster.nats[0]")
    assert issue.message == "'127.0.0.1:4222' is not a NATS server url"
    assert issue.hint is not None and "nats://" in issue.hint


def test_cluster_settings_without_urls_have_no_effect() -> None:
    loaded = load("cluster:\n  node_id: n1\n  replicas: 3\n")
    assert [w.path for w in loaded.warnings] == ["cluster.node_id", "cluster.replicas"]
    assert "no effect without cluster.nats" in loaded.warnings[0].message


def test_bad_cluster_values_are_refused() -> None:
    issues = errors(PG + "cluster:\n  nats: [nats://h:1]\n  stream: 'a.b'\n  replicas: 0\n  ack_wait_secs: 0\n")
    assert {i.path for i in issues} == {"cluster.stream", "cluster.replicas", "cluster.ack_wait_secs"}
