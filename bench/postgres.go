package bench

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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

// drain reads and decodes every row, as an application would: each value
// into its Go type through pgx's codecs — except an integral numeric that fits
// an int64, decoded straight from its base-10000 digits. pgx builds every
// numeric through math/big, which made the client, not PostgreSQL, the
// bottleneck of the campaign scenario (see docs/figures.md).
func drain(rows pgx.Rows) (int, error) {
	m := rows.Conn().TypeMap()
	fds := rows.FieldDescriptions()
	// Each column's codec, looked up once per result, not once per value.
	cols := make([]column, len(fds))
	for i := range fds {
		cols[i].fd = &fds[i]
		cols[i].typ, _ = m.TypeForOID(fds[i].DataTypeOID)
		cols[i].binaryNumeric = fds[i].DataTypeOID == pgtype.NumericOID && fds[i].Format == pgx.BinaryFormatCode
	}
	n := 0
	for rows.Next() {
		for i, raw := range rows.RawValues() {
			if err := cols[i].decode(m, raw); err != nil {
				rows.Close()
				return n, err
			}
		}
		n++
	}
	rows.Close()
	return n, rows.Err()
}

// column is one result column and its codec (nil for a type pgx does not
// know: such values are not decoded).
type column struct {
	fd  *pgconn.FieldDescription
	typ *pgtype.Type
	// binaryNumeric: a numeric in binary format, first tried by numericInt64.
	binaryNumeric bool
}

func (c *column) decode(m *pgtype.Map, raw []byte) error {
	if raw == nil || c.typ == nil {
		return nil
	}
	if c.binaryNumeric {
		if _, ok := numericInt64(raw); ok {
			return nil
		}
	}
	_, err := c.typ.Codec.DecodeValue(m, c.fd.DataTypeOID, c.fd.Format, raw)
	return err
}

// numericInt64 decodes a binary numeric that is an integer below 10^16 in
// magnitude; ok is false for anything else (fractions, larger values, NaN,
// infinities), which then takes pgx's general path.
func numericInt64(b []byte) (v int64, ok bool) {
	if len(b) < 8 {
		return 0, false
	}
	ndigits := int(int16(binary.BigEndian.Uint16(b)))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	if len(b) != 8+2*ndigits || (sign != 0 && sign != 0x4000) {
		return 0, false
	}
	if ndigits == 0 {
		return 0, true
	}
	// Digit i is worth 10000^(weight-i): integral when the last one is at
	// weight ≥ 0, below 10^16 when weight ≤ 3.
	if weight > 3 || ndigits > weight+1 {
		return 0, false
	}
	for i := 0; i <= weight; i++ {
		v *= 10000
		if i < ndigits {
			d := binary.BigEndian.Uint16(b[8+2*i:])
			if d > 9999 {
				return 0, false
			}
			v += int64(d)
		}
	}
	if sign == 0x4000 {
		v = -v
	}
	return v, true
}
