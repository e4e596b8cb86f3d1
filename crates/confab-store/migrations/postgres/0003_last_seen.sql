-- When each user was last seen online.
ALTER TABLE users ADD COLUMN last_seen BIGINT;
