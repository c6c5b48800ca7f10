-- Accounts, keyed by the value of their contacts' account attribute, with
-- a column a_<name> for each account attribute of the programme, added as
-- contacts get theirs.
CREATE TABLE accounts (
	key        TEXT        PRIMARY KEY,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
);

-- The account attributes that have a column a_<name> in accounts.
CREATE TABLE account_attributes (
	name     TEXT PRIMARY KEY,
	type     TEXT NOT NULL,
	added_at TIMESTAMPTZ NOT NULL
);
