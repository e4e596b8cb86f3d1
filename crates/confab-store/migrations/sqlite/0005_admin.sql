-- Administration (`confab admin`, docs/operations.md). A disabled account cannot log in and its
-- tokens are refused; they are kept, so enabling the account again brings its devices back. A
-- deleted account stays as a tombstone (renamed, no password, no tokens, no memberships) because
-- the events it authored keep its id: history still reads them, redacted. Both columns hold the
-- time of the change (ms), NULL when it did not happen.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
