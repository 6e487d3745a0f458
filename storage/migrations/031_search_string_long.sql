-- A string index row holds the first 1,000 bytes of its normalised value
-- (storage.MaxIndexed): a btree row cannot pass about 2.7 KB, and a longer
-- family name or address made the write fail. The whole normalised value,
-- when longer, is kept beside it (not indexed) for the prefix and
-- :contains checks the cut value cannot answer. NULL for every other row,
-- so adding the column rewrites nothing.
ALTER TABLE search_string ADD COLUMN long text;
