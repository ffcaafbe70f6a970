-- pbi-access schema v9: a second counter per tenant, moved only by writes that are not tied to
-- one workspace's `version`: the directory (names, deletions, groups, apps) and bulk
-- replacements (tenant import, seed). A rendering of one workspace's users is exact while both
-- the workspace's `version` and this counter are what they were when it was rendered, so a
-- role change in one workspace leaves the other workspaces' renderings valid.
ALTER TABLE tenant_generations ADD COLUMN directory_generation BIGINT NOT NULL DEFAULT 0
