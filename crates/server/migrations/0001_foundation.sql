-- pbi-access schema v1: tenants, directory, workspaces and their members, signing keys.
-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Ids are lowercase UUID text,
-- timestamps are Unix milliseconds (BIGINT), booleans are 0/1 BIGINT.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT NOT NULL,
    domain_lower TEXT NOT NULL UNIQUE,
    sp_api_enabled BIGINT NOT NULL DEFAULT 1,
    sp_admin_api_enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    upn TEXT NOT NULL,
    upn_lower TEXT NOT NULL,
    mail TEXT,
    mail_lower TEXT,
    display_name TEXT NOT NULL,
    user_type TEXT NOT NULL,
    account_enabled BIGINT NOT NULL DEFAULT 1,
    password_hash TEXT,
    deleted_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX users_upn ON users (tenant_id, upn_lower);
CREATE INDEX users_mail ON users (tenant_id, mail_lower);
CREATE TABLE directory_groups (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    mail TEXT,
    group_kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE service_principals (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX service_principals_app ON service_principals (tenant_id, app_id);
CREATE TABLE client_secrets (
    tenant_id TEXT NOT NULL,
    sp_id TEXT NOT NULL,
    id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    hint TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX client_secrets_sp ON client_secrets (tenant_id, sp_id);
CREATE TABLE directory_role_members (
    tenant_id TEXT NOT NULL,
    role TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, role, principal_id)
);
CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    description TEXT,
    kind TEXT NOT NULL DEFAULT 'Workspace',
    state TEXT NOT NULL DEFAULT 'Active',
    is_read_only BIGINT NOT NULL DEFAULT 0,
    capacity_id TEXT,
    version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX workspaces_active_name ON workspaces (tenant_id, name_lower) WHERE state <> 'Deleted';
CREATE TABLE workspace_members (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    principal_id TEXT NOT NULL,
    profile_id TEXT NOT NULL DEFAULT '',
    principal_type TEXT NOT NULL,
    role TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, principal_id, profile_id)
);
CREATE INDEX workspace_members_principal ON workspace_members (principal_id);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE demo_credentials (
    tenant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    admin_upn TEXT NOT NULL,
    member_upn TEXT NOT NULL,
    password TEXT NOT NULL
)
