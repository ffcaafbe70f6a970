-- pbi-access schema v13: deployment pipelines and gateway data sources, with their users.
-- `version` is each item's write lock (bumped first by every change of its users), as
-- workspaces' is for role changes.
CREATE TABLE pipelines (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pipelines_tenant ON pipelines (tenant_id, id);
CREATE TABLE pipeline_users (
    pipeline_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    access_right TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (pipeline_id, principal_id)
);
CREATE INDEX pipeline_users_principal ON pipeline_users (principal_id, pipeline_id);
CREATE TABLE gateways (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX gateways_tenant ON gateways (tenant_id, id);
CREATE TABLE gateway_users (
    gateway_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    access_right TEXT NOT NULL,
    PRIMARY KEY (gateway_id, principal_id)
);
CREATE TABLE gateway_datasources (
    id TEXT PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    datasource_type TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX gateway_datasources_gateway ON gateway_datasources (gateway_id, id);
CREATE TABLE datasource_users (
    datasource_id TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    principal_type TEXT NOT NULL,
    -- '' unless the entry is a service principal profile's
    profile_id TEXT NOT NULL DEFAULT '',
    access_right TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (datasource_id, principal_id, profile_id)
);
