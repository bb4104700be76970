package bench

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresTarget runs a scenario's SQL. Each worker holds one pooled
// connection for the whole run, like a pgbench client; statements are
// prepared once per connection (pgx's statement cache) and every value is a
// bound parameter.
type postgresTarget struct {
	pool *pgxpool.Pool
	op   *PostgresOp
}

func (t *postgresTarget) newWorker(ctx context.Context, _ int) (worker, error) {
	c, err := t.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: acquire a connection: %w", err)
	}
	return &postgresWorker{t: t, conn: c}, nil
}

type postgresWorker struct {
	noBefore
	t    *postgresTarget
	conn *pgxpool.Conn
}

func (w *postgresWorker) close() { w.conn.Release() }

// bindArgs turns a query's args into values: {isdn} is the first key, {isdns}
// the whole batch (text[]), anything else the literal string.
func bindArgs(q Query, keys []string) []any {
	out := make([]any, len(q.Args))
	for i, a := range q.Args {
		switch a {
		case "{isdn}":
			if len(keys) > 0 {
				out[i] = keys[0]
			}
		case "{isdns}":
			out[i] = keys
		default:
			out[i] = a
		}
	}
	return out
}

func (w *postgresWorker) do(ctx context.Context, keys []string) (opResult, error) {
	qs := w.t.op.Queries
	if len(qs) == 1 {
		rows, err := w.conn.Query(ctx, qs[0].SQL, bindArgs(qs[0], keys)...)
		if err != nil {
			return opResult{}, err
		}
		n, err := drain(rows)
		return opResult{items: n}, err
	}
	b := &pgx.Batch{}
	for _, q := range qs {
		b.Queue(q.SQL, bindArgs(q, keys)...)
	}
	br := w.conn.SendBatch(ctx, b)
	var res opResult
	for range qs {
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return opResult{}, err
		}
		n, err := drain(rows)
		if err != nil {
			_ = br.Close()
			return opResult{}, err
		}
		if res.items == 0 {
			res.items = n // the first query decides found / not found
		}
	}
	return res, br.Close()
}

// drain reads and decodes every row, as an application would.
func drain(rows pgx.Rows) (int, error) {
	n := 0
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			rows.Close()
			return n, err
		}
		n++
	}
	rows.Close()
	return n, rows.Err()
}
