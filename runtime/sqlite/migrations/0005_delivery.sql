-- Delivery and the tracking server.

-- The keys that sign tracked links. The newest key not retired signs;
-- every key not retired verifies, so links in mail already sent keep
-- working after a rotation until their key is retired.
CREATE TABLE tracking_keys (
	id         INTEGER PRIMARY KEY,
	secret     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER
);

-- What a contact chose on the preference page: how often to hear from
-- marketing, and the topics they want no more of (",a,b,").
CREATE TABLE preferences (
	contact_id INTEGER PRIMARY KEY REFERENCES contacts (id),
	frequency  TEXT    NOT NULL DEFAULT '',
	topics_out TEXT    NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
);

-- A send the mail server deferred (4xx) is planned again later; attempts
-- counts the tries.
ALTER TABLE sends ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

-- Provider webhooks, bounces and clicks find their send by Message-ID.
CREATE INDEX sends_message ON sends (message_id);
