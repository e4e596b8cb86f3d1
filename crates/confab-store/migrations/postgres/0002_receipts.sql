-- Delivered pointers, and when a member's receipt pointers last changed (for resume).
ALTER TABLE members ADD COLUMN delivered_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN receipt_ts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_receipts ON members (channel_id, receipt_ts);
