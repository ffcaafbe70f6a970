-- pbi-access schema v4: request budgets (throttling), shared by every instance on the database.
-- One row per budget of a tenant ('admin/1h', 'Groups_GetGroupsAsAdmin/1m', …). A call first
-- bumps its budget's version, which on PostgreSQL locks the row until the transaction ends (on
-- SQLite the write lock does the same), so counting and recording a call is atomic.
CREATE TABLE throttle_budgets (
    tenant_id TEXT NOT NULL,
    budget TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, budget)
);
-- The calls counted in each budget, at Unix milliseconds of the injected clock. Rows that have
-- left the window are deleted when the budget is next used.
CREATE TABLE throttle_calls (
    tenant_id TEXT NOT NULL,
    budget TEXT NOT NULL,
    called_at BIGINT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, budget, called_at, id)
)
