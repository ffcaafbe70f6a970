-- pbi-access schema v18: the review application's shared state.
-- The activity log's days already read, per tenant, with each user's last activity on the day:
-- a day is read once (24 admin calls at least: the service pages it by the hour), so later
-- campaigns spend the admin budget on the days not yet read only.
CREATE TABLE review_activity_days (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, day)
);
CREATE TABLE review_activity (
    tenant TEXT NOT NULL,
    day TEXT NOT NULL,
    upn TEXT NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, day, upn)
);
-- Signed-in people of the review app, shared by every instance on the database. The cookie's
-- token is stored as its SHA-256 only; `expires_at` ends the session, sign-out deletes the row.
CREATE TABLE review_sessions (
    token_hash TEXT PRIMARY KEY,
    upn TEXT NOT NULL,
    name TEXT NOT NULL,
    is_admin BIGINT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX review_sessions_expiry ON review_sessions (expires_at);
-- Sign-ins under way (authorization code + PKCE), keyed by the SHA-256 of their `state`, so the
-- redirect back may reach any instance.
CREATE TABLE review_signins (
    state_hash TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
