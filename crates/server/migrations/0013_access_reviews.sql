-- pbi-access schema v13: access reviews. A campaign freezes a snapshot of who holds what over a
-- scope (one row per principal and access, with its flags and recommendation), names reviewers
-- per workspace, and keeps an append-only decision log whose entries are hash-chained from the
-- snapshot's hash. The row's current decision is a copy of its latest log entry, for pages and
-- progress; the log is the record. Results of applying the decisions come last.
CREATE TABLE review_campaigns (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- the scope as the owner chose it (JSON), and its canonical text for finding earlier campaigns
    scope TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    owner TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    lookback_days BIGINT NOT NULL,
    snapshot_at BIGINT NOT NULL,
    snapshot_hash TEXT NOT NULL,
    admin_calls BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    state TEXT NOT NULL,
    previous_id TEXT,
    log_length BIGINT NOT NULL,
    log_head TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX review_campaigns_scope ON review_campaigns (scope_key, created_at);
CREATE TABLE review_rows (
    campaign_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    workspace_id TEXT NOT NULL,
    workspace TEXT NOT NULL,
    principal TEXT NOT NULL,
    principal_lower TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    role TEXT NOT NULL,
    via TEXT NOT NULL,
    license_type TEXT NOT NULL,
    user_type TEXT NOT NULL,
    account TEXT NOT NULL,
    last_activity BIGINT,
    flags TEXT NOT NULL,
    recommendation TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- the previous campaign's decision on the same access, and whether the access is new since it
    previous_decision TEXT,
    is_new BIGINT NOT NULL,
    decision TEXT,
    new_role TEXT,
    decided_by TEXT,
    decided_at BIGINT,
    justification TEXT,
    PRIMARY KEY (campaign_id, row_no)
);
CREATE INDEX review_rows_workspace ON review_rows (campaign_id, workspace_id, row_no);
CREATE INDEX review_rows_principal ON review_rows (campaign_id, principal_lower, row_no);
CREATE TABLE review_reviewers (
    campaign_id TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    PRIMARY KEY (campaign_id, workspace_id, reviewer)
);
CREATE INDEX review_reviewers_by ON review_reviewers (campaign_id, reviewer, workspace_id);
CREATE TABLE review_decisions (
    campaign_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    row_no BIGINT NOT NULL,
    reviewer TEXT NOT NULL,
    decided_at BIGINT NOT NULL,
    -- the row as the reviewer saw it (JSON)
    seen TEXT NOT NULL,
    decision TEXT NOT NULL,
    new_role TEXT,
    justification TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (campaign_id, seq)
);
CREATE TABLE review_results (
    campaign_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    request_id TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, row_no)
)
