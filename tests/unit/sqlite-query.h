#ifndef QUIRE_TEST_SQLITE_QUERY_H
#define QUIRE_TEST_SQLITE_QUERY_H

/* For unit tests that look into a database directly (after cmocka.h and
   sqlite3.h): the first column of the one row sql returns, which must
   exist. */
static inline int64_t
sqlite_query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

#endif
