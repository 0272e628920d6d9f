-- Each provider's skill names embedded by the same model as its text, one row per skill in
-- the body's order (float32, n x dim), written with the provider: the Retriever's provider
-- collection reads them with the rest of the row and needs no Embedder of its own. NULL for
-- providers written before this column: their skills match by name only until rewritten.
ALTER TABLE providers ADD COLUMN skill_embeddings bytea;
