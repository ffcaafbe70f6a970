-- pbi-access schema v11: indexes for directory reads whose cost does not grow with the tenant.
-- Groups are filtered case-insensitively on displayName, mail and mailNickname (Graph `eq`,
-- `startswith` as a range on the lowered value) and on externalId (SCIM), each paged by id.
CREATE INDEX directory_groups_name ON directory_groups (tenant_id, lower(display_name), id);
CREATE INDEX directory_groups_mail ON directory_groups (tenant_id, lower(mail), id);
CREATE INDEX directory_groups_nickname ON directory_groups (tenant_id, lower(mail_nickname), id);
CREATE INDEX directory_groups_external ON directory_groups (tenant_id, external_id);
-- The directory roles a principal holds (`memberOf`).
CREATE INDEX directory_role_members_principal ON directory_role_members (tenant_id, principal_id, role);
-- The groups a user or app owns.
CREATE INDEX group_owners_owner ON group_owners (tenant_id, owner_id)
