// Package verify proves that PostgreSQL (the source of truth) and Redis (the
// cache) — and optionally the source files — hold the same snapshot.
//
// # Method
//
// Subscribers are partitioned into B buckets by dataset.HashISDN. Each side
// streams its rows once (PostgreSQL queries, a Redis SCAN with pipelined
// HGETALL + PTTL, the files through dataset.Open) and adds, per bucket and per
// class (recommendation, profile, monthly row, index membership), a count and
// a wrapping sum of canonical row hashes. Both are order independent, and a
// duplicated row changes the count, so duplicates cannot cancel out. Redis
// hashes are digested as stored; PostgreSQL's rows as the loader encodes them
// (dataset's canonical encoding), so a clean store decodes no JSON.
//
// Only buckets whose digests differ are drilled into: a second pass keeps, for
// the subscribers of those buckets only, per-subscriber digests and index
// memberships; subscribers whose digests differ are then fetched by ISDN from
// both stores and compared field by field (strict.go): exact hash field and
// JSON member names, no trimming; only float formatting, JSON member order and
// JSON whitespace are equal meaning (docs/verify.md lists the rules). A
// differing bucket in which the second pass finds no differing subscriber is
// an UnexplainedBucket finding, never clean. Memory is O(B) for a clean store
// and O(subscribers in differing buckets) otherwise.
//
// Only keys of the namespace's key scheme are read as its data (scheme.go);
// keys of other namespaces sharing the prefix are counted as foreign and never
// reported or touched. The loader's swap journal, if present, is an
// UnfinishedSwap finding.
//
// Findings fall into the classes listed in Classes. Repair (Options.Repair) rewrites
// from PostgreSQL exactly the Redis hashes and index members found wrong or
// missing, deletes orphans, fixes meta:stats, and verifies again; it never
// writes to PostgreSQL.
//
// Sample mode (Options.Sample) checks N random subscribers directly and
// estimates the mismatch rate with a Wilson score interval.
package verify
