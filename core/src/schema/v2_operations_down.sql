DROP TABLE slow_queries;
DROP TABLE settings;
