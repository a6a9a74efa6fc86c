"""Schema errors become plain-English issues with friendly paths, lines and fix hints: all of them."""

from __future__ import annotations

from .support import at, errors, load


def test_unknown_key_suggests_the_closest_field() -> None:
    issues = errors(
        """\
        agents:
          - id: writer
            depnds_on: [a]
        """
    )
    [issue] = issues
    assert issue.path == "agents[writer].depnds_on"
    assert issue.line == 3
    assert issue.message == "unknown key 'depnds_on'"
    assert issue.hint == "did you mean 'depends_on'?"


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    [issue] = errors(
        """\
        server:
          zzz: 1
        """
    )
    assert issue.path == "server.zzz"
    assert issue.hint == (
        "valid keys: 'host', 'port', 'auth', 'cors_origins', 'allowed_hosts', 'rate_limit', 'max_body_bytes'"
    )


def test_unknown_top_level_section() -> None:
    [issue] = errors("agent:\n  - id: a\n")
    assert (issue.path, issue.line, issue.hint) == ("agent", 1, "did you mean 'agents'?")


def test_every_error_is_reported_not_just_the_first() -> None:
    issues = errors(
        """\
        agents:
          - id: writer
            role: boss
            timeout_secs: soon
          - provider: mock
          - id: has space
        workflows:
          - id: hello
            entry_point: [a]
        server:
          port: 70000
        """
    )
    assert [(i.path, i.line) for i in issues] == [
        ("agents[writer].role", 3),
        ("agents[writer].timeout_secs", 4),
        ("agents[1].id", 5),
        ("agents[2].id", 6),
        ("workflows[hello].entry_point", 9),
        ("server.port", 11),
    ]
    role, timeout, missing, pattern, entry, port = issues
    assert role.message == "'boss' is not a valid role"
    assert role.hint == "use one of: 'autonomous', 'coordinator' or 'worker'"
    assert timeout.message == "expected a number, got 'soon'"
    assert missing.message == "missing required key 'id'"
    assert missing.hint == "add 'id: ...' (Unique agent id)"
    assert pattern.message == "'has space' is not a valid id"
    assert pattern.hint is not None and "no spaces" in pattern.hint
    assert entry.message == "expected text, got a list"
    assert port.message == "must be at most 65535 (got 70000)"
    assert port.hint == "use a value at most 65535"


def test_literal_typo_gets_did_you_mean() -> None:
    [issue] = errors(
        """\
        agents:
          - id: a
            role: workr
        """
    )
    assert issue.hint == "did you mean 'worker'? allowed: 'autonomous', 'coordinator' or 'worker'"


def test_wrong_types_have_fix_hints() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            tools: search
            model: 4
            memory: yes
            sampling:
              max_tokens: 1.5
        sandbox:
          network: maybe
        """
    )
    tools = at(issues, "agents[a].tools")
    assert tools.message == "expected a list, got 'search'"
    assert tools.hint == "write it as a list: [search]"
    model = at(issues, "agents[a].model")
    assert model.message == "expected text, got 4"
    assert model.hint == "quote the value to make it text: '4'"
    memory = at(issues, "agents[a].memory")
    assert memory.message == "expected a mapping of key: value pairs, got true"
    assert at(issues, "agents[a].sampling.max_tokens").message == "expected a whole number, got 1.5"
    flag = at(issues, "sandbox.network")
    assert (flag.message, flag.hint) == ("expected true or false, got 'maybe'", "write true or false")


def test_null_value_for_a_field() -> None:
    [issue] = errors(
        """\
        agents:
          - id: a
            timeout_secs:
        """
    )
    assert issue.message == "has no value"
    assert issue.hint == "give it a value, or remove the key to use the default"


def test_empty_top_level_sections_mean_defaults() -> None:
    config = load("agents:\nworkflows:\nserver:\n").config
    assert config.agents == [] and config.server.port == 8080


def test_pattern_mismatch_for_intervals_and_urls() -> None:
    issues = errors(
        """\
        workflows:
          - {id: w, agents: []}
        schedules:
          - {id: s, workflow: w, every: hourly}
        webhooks:
          - {name: out, url: example.com}
        """
    )
    every = at(issues, "schedules[s].every")
    assert every.message == "'hourly' is not an interval"
    assert every.hint is not None and "30s, 15m, 1h or 1d" in every.hint
    assert at(issues, "webhooks[out].url").message == "'example.com' is not an http(s) URL"


def test_model_validator_errors_point_at_their_section() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            token_budget:
              per_execution: 100
              per_call: 200
        mcp_servers:
          - name: fs
            transport: stdio
          - name: web
            transport: http
            url: "http:///nohost"
        schedules:
          - id: both
            workflow: w
            every: 1h
            cron: "* * * * *"
        """
    )
    budget = at(issues, "agents[a].token_budget")
    assert budget.line == 3
    assert budget.message == "per_call (200) is larger than per_execution (100); lower per_call or raise per_execution"
    assert at(issues, "mcp_servers[fs]").message == "transport 'stdio' needs a command (for example: command: npx)"
    assert at(issues, "mcp_servers[web]").line == 9
    assert "exactly one of 'every'" in at(issues, "schedules[both]").message


def test_per_call_default_is_capped_at_per_execution() -> None:
    config = load(
        """\
        agents:
          - id: a
            token_budget: {per_execution: 1000}
          - id: b
            token_budget: {per_execution: 20000}
        """
    ).config
    budgets = [a.token_budget for a in config.agents]
    assert [(b.per_call, b.per_execution) for b in budgets if b] == [(1000, 1000), (8192, 20000)]


def test_summarize_policy_is_an_alias_of_warn() -> None:
    config = load("agents:\n  - id: a\n    token_budget: {per_execution: 10, overflow_policy: summarize}\n").config
    assert config.agents[0].token_budget is not None
    assert config.agents[0].token_budget.overflow_policy == "warn"


def test_discriminated_trigger_paths_skip_the_union_label() -> None:
    issues = errors(
        """\
        agents:
          - id: a
        proactive:
          - id: p
            agent: a
            trigger:
              type: schedule
              every: often
              evnt: x
          - id: q
            agent: a
            trigger: {type: cron}
          - id: r
            agent: a
            trigger: {every: 1h}
        """
    )
    every = at(issues, "proactive[p].trigger.every")
    assert every.line == 8
    extra = at(issues, "proactive[p].trigger.evnt")
    assert extra.line == 9
    assert extra.hint is not None and extra.hint.startswith("valid keys: 'type', 'every'")
    tag = at(issues, "proactive[q].trigger")
    assert tag.message == "unknown 'type' 'cron'; expected 'schedule', 'on_event'"
    assert at(issues, "proactive[r].trigger").message == "missing key 'type'"


def test_paths_use_names_and_labels_of_list_items() -> None:
    issues = errors(
        """\
        agents:
          - id: a
            memory:
              core:
                blocks:
                  - label: persona
                    limit: -1
        mcp_servers:
          - name: fs
            command: npx
            env: {"MY VAR": 3}
        """
    )
    assert at(issues, "agents[a].memory.core.blocks[persona].limit").line == 7
    assert at(issues, "mcp_servers[fs].env['MY VAR']").line == 11
