/*
** bm25_counted: FTS5's BM25, with how many rows hold each phrase given by the caller.
**
** FTS5's own bm25() counts, before it scores the first row, the rows that hold each of
** the query's phrases, by walking every one of their rows in the whole index: 3.2 of the
** 8.0 ms (p50) of a memory word search at 100k memories of one user among 200k, most of
** it for the common words that score least. The search knows those counts already (it
** read them from the index's fts5vocab table to split the query in stages, and keeps
** them a minute: `fts5_search`), so it passes them in:
**
**     bm25_counted(<table>, <rows holding phrase 0>, <rows holding phrase 1>, ...)
**
** one count per phrase of the MATCH expression, in the order the phrases appear there
** (NULL: count that phrase as bm25() does). Everything else is bm25()'s, with its
** constants and in its order of operations, so the scores are bm25()'s to the bit when
** the counts are current (tests/kernel/test_bm25_counted.py), and lower is better.
**
** Built by `make install` (see the Makefile) into libbm25counted.so beside this file (a name Python does not import), and
** loaded on every connection with sqlite-vec (`app/kernel/sqlite.py`).
*/
#include <math.h>
#include <string.h>

#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#define K1 1.2 /* bm25()'s */
#define B 0.75

typedef struct Statistics {
  int nPhrase;
  double avgdl;  /* tokens in a row, on average */
  double *aIDF;  /* each phrase's inverse document frequency */
  double *aFreq; /* each phrase's hits in the row being scored */
} Statistics;

static int count_rows(const Fts5ExtensionApi *pApi, Fts5Context *pFts, void *pUserData) {
  (void)pApi;
  (void)pFts;
  (*(sqlite3_int64 *)pUserData)++;
  return SQLITE_OK;
}

/* The query's statistics, made once per statement from the counts given. */
static int statistics_of(const Fts5ExtensionApi *pApi, Fts5Context *pFts, sqlite3_context *pCtx,
                         int nVal, sqlite3_value **apVal, Statistics **ppOut) {
  int nPhrase = pApi->xPhraseCount(pFts);
  sqlite3_int64 nRow = 0, nToken = 0;
  Statistics *p;
  int rc, i;
  if (nVal != nPhrase) {
    char *zErr = sqlite3_mprintf("bm25_counted: %d counts given for %d phrases", nVal, nPhrase);
    sqlite3_result_error(pCtx, zErr, -1);
    sqlite3_free(zErr);
    return SQLITE_ERROR;
  }
  rc = pApi->xRowCount(pFts, &nRow);
  if (rc == SQLITE_OK) rc = pApi->xColumnTotalSize(pFts, -1, &nToken);
  if (rc != SQLITE_OK) return rc;
  p = sqlite3_malloc64(sizeof(Statistics) + 2 * sizeof(double) * (nPhrase ? nPhrase : 1));
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof(Statistics) + 2 * sizeof(double) * (nPhrase ? nPhrase : 1));
  p->nPhrase = nPhrase;
  p->aIDF = (double *)&p[1];
  p->aFreq = &p->aIDF[nPhrase];
  p->avgdl = (double)nToken / (double)nRow;
  for (i = 0; rc == SQLITE_OK && i < nPhrase; i++) {
    sqlite3_int64 nHit = 0;
    double idf;
    if (sqlite3_value_type(apVal[i]) == SQLITE_NULL) {
      rc = pApi->xQueryPhrase(pFts, i, (void *)&nHit, count_rows);
    } else {
      nHit = sqlite3_value_int64(apVal[i]);
      /* A count made before rows were deleted may exceed the rows left. */
      if (nHit > nRow) nHit = nRow;
      if (nHit < 0) nHit = 0;
    }
    idf = log((nRow - nHit + 0.5) / (nHit + 0.5));
    if (idf <= 0.0) idf = 1e-6;
    p->aIDF[i] = idf;
  }
  if (rc == SQLITE_OK) rc = pApi->xSetAuxdata(pFts, p, sqlite3_free);
  if (rc != SQLITE_OK) {
    sqlite3_free(p);
    return rc;
  }
  *ppOut = p;
  return SQLITE_OK;
}

static void bm25_counted(const Fts5ExtensionApi *pApi, Fts5Context *pFts, sqlite3_context *pCtx,
                         int nVal, sqlite3_value **apVal) {
  Statistics *p = (Statistics *)pApi->xGetAuxdata(pFts, 0);
  double score = 0.0, D = 0.0;
  int rc = SQLITE_OK, nInst = 0, nTok = 0, i;
  if (p == 0) rc = statistics_of(pApi, pFts, pCtx, nVal, apVal, &p);
  if (rc == SQLITE_OK) {
    memset(p->aFreq, 0, sizeof(double) * p->nPhrase);
    rc = pApi->xInstCount(pFts, &nInst);
  }
  for (i = 0; rc == SQLITE_OK && i < nInst; i++) {
    int ip, ic, io;
    rc = pApi->xInst(pFts, i, &ip, &ic, &io);
    if (rc == SQLITE_OK) p->aFreq[ip] += 1.0;
  }
  if (rc == SQLITE_OK) {
    rc = pApi->xColumnSize(pFts, -1, &nTok);
    D = (double)nTok;
  }
  if (rc != SQLITE_OK) {
    /* Keeps a message statistics_of set; any failure is an error, never a NULL score. */
    sqlite3_result_error_code(pCtx, rc);
    return;
  }
  for (i = 0; i < p->nPhrase; i++) {
    score += p->aIDF[i] * ((p->aFreq[i] * (K1 + 1.0)) /
                           (p->aFreq[i] + K1 * (1 - B + B * D / p->avgdl)));
  }
  sqlite3_result_double(pCtx, -1.0 * score);
}

/* The FTS5 API of this connection, as its documentation says to ask for it. */
static fts5_api *fts5_api_of(sqlite3 *db) {
  fts5_api *pApi = 0;
  sqlite3_stmt *pStmt = 0;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &pStmt, 0) == SQLITE_OK) {
    sqlite3_bind_pointer(pStmt, 1, (void *)&pApi, "fts5_api_ptr", 0);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
  return pApi;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_bmcounted_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  fts5_api *fts5;
  SQLITE_EXTENSION_INIT2(pApi);
  fts5 = fts5_api_of(db);
  if (fts5 == 0 || fts5->iVersion < 2) {
    *pzErrMsg = sqlite3_mprintf("bm25_counted: this SQLite has no FTS5 (version 2 or later)");
    return SQLITE_ERROR;
  }
  return fts5->xCreateFunction(fts5, "bm25_counted", 0, bm25_counted, 0);
}
