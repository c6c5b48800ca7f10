-- Accounts, keyed by the value of their contacts' account attribute, with
-- a column a_<name> for each account attribute of the programme, added as
-- contacts get theirs. Times are Unix milliseconds (UTC).
CREATE TABLE accounts (
	key        TEXT    PRIMARY KEY,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

-- The account attributes that have a column a_<name> in accounts.
CREATE TABLE account_attributes (
	name     TEXT PRIMARY KEY,
	type     TEXT NOT NULL,
	added_at INTEGER NOT NULL
);
