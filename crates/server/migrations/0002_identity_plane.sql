-- pbi-access schema v2: the identity plane. Group membership (nested), Microsoft 365 group
-- owners and workspace backing, SCIM/Graph user attributes with versions for ETags, licenses
-- (subscribed SKUs with seats, direct and group-based assignments), tenant settings for service
-- principals, and the per-tenant SCIM provisioning secret.
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN surname TEXT;
ALTER TABLE users ADD COLUMN job_title TEXT;
ALTER TABLE users ADD COLUMN department TEXT;
ALTER TABLE users ADD COLUMN employee_number TEXT;
ALTER TABLE users ADD COLUMN usage_location TEXT;
-- SCIM attributes that have no column of their own, as a JSON object.
ALTER TABLE users ADD COLUMN extra_json TEXT;
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN modified_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_external ON users (tenant_id, external_id);
ALTER TABLE directory_groups ADD COLUMN description TEXT;
ALTER TABLE directory_groups ADD COLUMN mail_nickname TEXT;
ALTER TABLE directory_groups ADD COLUMN external_id TEXT;
ALTER TABLE directory_groups ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE directory_groups ADD COLUMN modified_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE directory_groups ADD COLUMN deleted_at BIGINT;
-- member_type: User, Group (nesting) or App.
CREATE TABLE group_members (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_type TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (tenant_id, member_id);
CREATE TABLE group_owners (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, owner_id)
);
-- A workspace backed by a Microsoft 365 group: its members are Members, its owners Admins.
ALTER TABLE workspaces ADD COLUMN backing_group_id TEXT;
CREATE TABLE subscribed_skus (
    tenant_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    sku_part_number TEXT NOT NULL,
    prepaid_enabled BIGINT NOT NULL,
    capability_status TEXT NOT NULL DEFAULT 'Enabled',
    PRIMARY KEY (tenant_id, sku_id)
);
-- Direct license assignments. Effective after the configured propagation delay.
CREATE TABLE license_assignments (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, sku_id)
);
-- Group-based licensing: every member (transitively) of the group holds the SKU.
CREATE TABLE group_licenses (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, sku_id)
);
-- "Service principals can use Fabric APIs" / "can access read-only admin APIs": each may be
-- limited to the members of one security group.
ALTER TABLE tenants ADD COLUMN sp_api_group_id TEXT;
ALTER TABLE tenants ADD COLUMN sp_admin_api_group_id TEXT;
ALTER TABLE tenants ADD COLUMN scim_secret_hash TEXT
