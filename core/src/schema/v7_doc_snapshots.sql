-- Step 7: snapshots in a table of their own.
--
-- `documents` is a WITHOUT ROWID table, so its rows are the cells of its
-- primary key's b-tree. A key search that meets a cell spilling onto
-- overflow pages reads the whole cell to compare it, and an UPDATE
-- rewrites the whole row. With a document's snapshot (megabytes for the
-- catalogue or a busy month's journal) in its row, every command that
-- touched that document copied the snapshot several times: registering
-- the document, counting its pending changes, recording its heads. A
-- catalogue edit spent four fifths of its time there, and a sync hello,
-- which lists every document's heads, read every snapshot.
--
-- Here a snapshot is a row of a rowid table, found through the small
-- index on `doc_id` and read only when the document is loaded. The
-- `snapshot` column of `documents` stays, always NULL: removing it would
-- rewrite the table and its CREATE text for no gain (a NULL costs one
-- byte of the row's header).

CREATE TABLE doc_snapshots (
    doc_id TEXT PRIMARY KEY REFERENCES documents(doc_id),
    bytes  BLOB NOT NULL
);

INSERT INTO doc_snapshots(doc_id, bytes)
    SELECT doc_id, snapshot FROM documents WHERE snapshot IS NOT NULL;
UPDATE documents SET snapshot = NULL WHERE snapshot IS NOT NULL;
