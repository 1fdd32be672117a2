UPDATE documents SET snapshot = (SELECT bytes FROM doc_snapshots s WHERE s.doc_id = documents.doc_id)
 WHERE doc_id IN (SELECT doc_id FROM doc_snapshots);
DROP TABLE doc_snapshots;
