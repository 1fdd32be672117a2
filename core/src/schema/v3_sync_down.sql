DROP TABLE terminals;
DROP TABLE sync_state;
