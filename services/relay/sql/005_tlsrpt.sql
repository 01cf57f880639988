-- 005_tlsrpt.sql - SMTP TLS Reporting (RFC 8460, docs/relay.md "TLS-RPT").
-- Owned by services/relay: relay_tlsrpt.c counts the TLS sessions of the
-- mx transport per policy domain and UTC day; relay_tlsrpt_report.c builds
-- and sends the daily reports and logs them in tlsrpt_reports.

-- One row per (day, domain, policy, outcome): result_type '' counts the
-- successful sessions, any other value (RFC 8460 §4.3 result types) failed
-- ones with the receiving host and address and our reason text.
CREATE TABLE relay.tlsrpt_results (
    day                   date        NOT NULL,
    policy_domain         text        NOT NULL,
    policy_type           text        NOT NULL
                          CHECK (policy_type IN ('sts', 'tlsa', 'no-policy-found')),
    policy_string         jsonb       NOT NULL DEFAULT '[]',   -- latest seen
    mx_host               jsonb       NOT NULL DEFAULT '[]',   -- sts "mx:" patterns
    result_type           text        NOT NULL DEFAULT '',
    receiving_mx_hostname text        NOT NULL DEFAULT '',
    receiving_ip          text        NOT NULL DEFAULT '',
    failure_reason        text        NOT NULL DEFAULT '',
    sessions              bigint      NOT NULL DEFAULT 0,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, policy_domain, policy_type, result_type, receiving_mx_hostname,
                 receiving_ip, failure_reason)
);

-- One row per report (day, domain): claimed before sending so that several
-- relay processes send each report once.
CREATE TABLE relay.tlsrpt_reports (
    id            bigserial   PRIMARY KEY,
    day           date        NOT NULL,
    policy_domain text        NOT NULL,
    report_id     text        NOT NULL UNIQUE,
    state         text        NOT NULL DEFAULT 'sending'
                  CHECK (state IN ('sending', 'sent', 'failed', 'no-rua')),
    rua           text        NOT NULL DEFAULT '',
    detail        text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (day, policy_domain)
);
