-- SPEC §4 use case 3 (the marketing campaign query) filters on fixed
-- thresholds and orders by priority. A partial index holding exactly its rows
-- in that order, with the columns it returns, answers it by an index-only
-- scan of ~3% of the table. At 214,000 subscribers, EXPLAIN ANALYZE: 1.2 ms
-- instead of 21 ms (a parallel scan and a sort) on the fast machine state of
-- 2026-11-26, 2.4 ms instead of 50-57 ms on its slow state (16-17 ms while
-- the pages are not yet all-visible); p99 at concurrency 8, fast state, from
-- 257 ms to 38-47 ms, under the 200 ms target. Only a campaign whose filter
-- implies this predicate (the same or stricter thresholds) can use the index.
CREATE INDEX recommendations_campaign_idx ON recommendations (priority_score DESC)
    INCLUDE (isdn, advance_amount, revenue_per_advance, customer_value_score)
    WHERE bad_debt_risk = 'LOW' AND customer_value_score >= 70 AND advance_readiness_score >= 80;

---- create above / drop below ----

DROP INDEX recommendations_campaign_idx;
