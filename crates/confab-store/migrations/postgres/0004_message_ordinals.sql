-- Ordinals for unread counts in O(log n) (docs/architecture.md, "Counts"): each message event
-- carries its place among the channel's messages (msg_ord) and among its author's messages in the
-- channel (author_ord), both assigned in the message's own transaction; channels.msg_count is the
-- counter msg_ord is taken from, advanced in the statement that assigns the seq. Other events
-- carry NULL in both.
ALTER TABLE events ADD COLUMN msg_ord BIGINT;
ALTER TABLE events ADD COLUMN author_ord BIGINT;
ALTER TABLE channels ADD COLUMN msg_count BIGINT NOT NULL DEFAULT 0;

-- Messages stored before: number them in seq order (what is left after retention starts at 1).
UPDATE events SET msg_ord = o.msg_ord, author_ord = o.author_ord
FROM (SELECT channel_id, seq,
             row_number() OVER (PARTITION BY channel_id ORDER BY seq) AS msg_ord,
             row_number() OVER (PARTITION BY channel_id, author_id ORDER BY seq) AS author_ord
      FROM events WHERE kind = 'message') AS o
WHERE events.channel_id = o.channel_id AND events.seq = o.seq;
UPDATE channels SET msg_count =
    coalesce((SELECT max(msg_ord) FROM events WHERE events.channel_id = channels.id), 0);

-- The first message after a point, and a member's first and last message after it: one seek each,
-- answered from the index alone.
CREATE INDEX events_messages ON events (channel_id, seq, msg_ord) WHERE msg_ord IS NOT NULL;
CREATE INDEX events_authored ON events (channel_id, author_id, seq, author_ord) WHERE msg_ord IS NOT NULL;
