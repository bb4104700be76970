package loader

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ut360/ut360/dataset"
)

// extremeDataset is generated subscribers with edge values mixed in:
// Unicode, empty lists, NULL and negative growth, huge and tiny floats.
func extremeDataset(t *testing.T, n int) string {
	dir := t.TempDir()
	ss := subs(7, 0, n)
	ss[0].Rec.ArpuGrowthRate = dataset.NullFloat{}
	ss[0].Profile.ArpuGrowthRate = dataset.NullFloat{}
	ss[1].Rec.ArpuGrowthRate = dataset.NullFloat{V: -0.9999, Valid: true}
	ss[2].Rec.ArpuAvg6m, ss[2].Profile.ArpuMax6m = math.MaxFloat64, math.MaxFloat64
	ss[2].Rec.AdvanceAmount, ss[2].Profile.AdvanceAmount = maxNumeric12, maxNumeric12
	ss[3].Profile.ArpuMin6m, ss[3].Rec.PriorityScore = 5e-324, 100
	ss[3].Profile.RiskFactors, ss[3].Profile.InsightStrengths = nil, []string{}
	ss[4].Profile.ClusterLabel = "Ưu tiên 💡 \"quoted\" <tag> & \\ back\\slash"
	ss[4].Profile.InsightRecommendations = []string{"", "Khách hàng có lịch sử nạp tiền đều đặn ✓", "tab\there\nnewline"}
	ss[5].Monthly = nil // a subscriber without monthly rows
	ss[6].Monthly[0].ArpuCall = -1e-7
	writeFiles(t, dir, ss)
	return dir
}

// TestLoadRoundTrip: files → load → both stores read back equal the files,
// for every table and key family, and meta:stats is complete.
func TestLoadRoundTrip(t *testing.T) { roundTrip(t) }

// TestLoadRoundTripGenericCopy is the same through pgx.CopyFrom, the path
// taken when a table's column types are not the migrations' ones.
func TestLoadRoundTripGenericCopy(t *testing.T) {
	binaryCopy = false
	defer func() { binaryCopy = true }()
	roundTrip(t)
}

func roundTrip(t *testing.T) {
	s := newStores(t)
	dir := extremeDataset(t, 600)
	sum := s.load(t, s.opts(dir))
	ctx := context.Background()

	recs := readAll(t, &dataset.Recommendations, filepath.Join(dir, dataset.RecommendationsFile))
	profs := readAll(t, &dataset.Profiles, filepath.Join(dir, dataset.ProfilesFile))
	mons := readAll(t, &dataset.Monthlies, filepath.Join(dir, dataset.MonthlyFile))
	var fp dataset.Fingerprint
	byISDN := map[string][]dataset.Monthly{}
	for i := range recs {
		fp.AddRec(&recs[i])
	}
	for i := range profs {
		fp.AddProfile(&profs[i])
	}
	for i := range mons {
		fp.AddMonthly(&mons[i])
		byISDN[mons[i].ISDN] = append(byISDN[mons[i].ISDN], mons[i])
	}
	if sum.Fingerprint != fp.String() || sum.Subscribers != int64(len(recs)) || sum.MonthlyRows != int64(len(mons)) || sum.Rejects != 0 {
		t.Fatalf("summary %+v, want fingerprint %s and %d/%d rows", sum, fp.String(), len(recs), len(mons))
	}
	if fileExists(filepath.Join(dir, "rejects.jsonl")) {
		t.Error("an empty rejects file was left behind")
	}

	// PostgreSQL, read back through the same scanners --from postgres uses.
	l := &load{pool: s.pool}
	l.pgInputs()
	defer l.releaseInputs() // ends the snapshot's transaction and lock
	checkTable(t, l.recs, recs, (*dataset.Recommendation).Values)
	checkTable(t, l.profiles, profs, (*dataset.Profile).Values)
	checkTable(t, l.monthly, mons, (*dataset.Monthly).Values)
	var pgVersion int
	if err := s.pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&pgVersion); err != nil {
		t.Fatal(err)
	}
	if binaryCopy && pgVersion >= 140000 {
		// COPY FREEZE leaves every page all-visible on PostgreSQL 14+ (ANALYZE
		// reads the visibility map into relallvisible): index-only scans work
		// at once. The pgx.CopyFrom fallback does not freeze.
		for _, tb := range []string{tRecs, tProfiles, tMonthly} {
			var pages, visible int32
			err := s.pool.QueryRow(ctx, `SELECT relpages, relallvisible FROM pg_class
				WHERE oid = to_regclass($1)`, tb).Scan(&pages, &visible)
			if err != nil || pages == 0 || visible != pages {
				t.Errorf("%s: %d of %d pages all-visible after the load (%v)", tb, visible, pages, err)
			}
		}
	}

	// Redis hashes.
	for i := range recs {
		r := &recs[i]
		h, err := s.rdb.HGetAll(ctx, s.keys.Rec(r.ISDN)).Result()
		if err != nil {
			t.Fatal(err)
		}
		got, fe := dataset.RecommendationFromHash(h)
		if fe != nil || !slices.Equal(got.Values(), r.Values()) {
			t.Fatalf("rec %s: %v\n got %q\nwant %q", r.ISDN, fe, got.Values(), r.Values())
		}
		if ttl := s.rdb.TTL(ctx, s.keys.Rec(r.ISDN)).Val(); ttl <= 0 || ttl > DefaultTTL {
			t.Fatalf("rec %s TTL %s", r.ISDN, ttl)
		}
	}
	for i := range profs {
		p := &profs[i]
		h, err := s.rdb.HGetAll(ctx, s.keys.Profile(p.ISDN)).Result()
		if err != nil {
			t.Fatal(err)
		}
		got, months, fe := dataset.ProfileFromHash(h)
		want := byISDN[p.ISDN]
		if fe != nil || dataset.ProfileDigest(&got, months) != dataset.ProfileDigest(p, want) {
			t.Fatalf("profile %s: %v\n got %q %v\nwant %q %v", p.ISDN, fe, got.Values(), months, p.Values(), want)
		}
		if ttl := s.rdb.TTL(ctx, s.keys.Profile(p.ISDN)).Val(); ttl <= 0 {
			t.Fatalf("profile %s has no TTL", p.ISDN)
		}
	}
	// Index keys: exactly the recommendations, scored by priority.
	members := map[string]int{}
	for i := range recs {
		r := &recs[i]
		sc, err := s.rdb.ZScore(ctx, s.keys.ServiceIndex(r.ServiceType), r.ISDN).Result()
		if err != nil || sc != r.PriorityScore {
			t.Fatalf("service index of %s: %v %v", r.ISDN, sc, err)
		}
		for _, k := range []string{s.keys.RiskIndex(r.BadDebtRisk), s.keys.ClusterIndex(r.ClusterGroup)} {
			if !s.rdb.SIsMember(ctx, k, r.ISDN).Val() {
				t.Fatalf("%s not in %s", r.ISDN, k)
			}
		}
		members[r.ServiceType]++
	}
	sn := s.redisSnapshot(t)
	if sn.service != int64(len(recs)) || sn.risk != int64(len(recs)) || sn.cluster != int64(len(recs)) {
		t.Fatalf("index cardinalities %+v, want %d each", sn, len(recs))
	}
	st := s.rdb.HGetAll(ctx, s.keys.Stats()).Val()
	for _, f := range []string{dataset.StatRecommendations, dataset.StatProfiles, dataset.StatMonthlyRows, dataset.StatRecKeys, dataset.StatProfileKeys,
		dataset.StatIndexServiceMembers, dataset.StatIndexRiskMembers, dataset.StatIndexClusterMembers, dataset.StatFingerprint, dataset.StatSHA256Recommendations,
		dataset.StatSHA256Profiles, dataset.StatSHA256Monthly, dataset.StatLoadedAt, dataset.StatDurationMS, dataset.StatVersion, dataset.StatSubscribers, dataset.StatTTLSeconds} {
		if st[f] == "" {
			t.Errorf("meta:stats lacks %s", f)
		}
	}
	if st[dataset.StatFingerprint] != fp.String() || st[dataset.StatMonthlyRows] != strconv.Itoa(len(mons)) || st[dataset.StatTTLSeconds] != "604800" {
		t.Errorf("meta:stats %v", st)
	}
	if left := s.stageLeft(t, probeISDNs...); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}
}

func checkTable[T any](t *testing.T, in input[T], want []T, values func(*T) []string) {
	t.Helper()
	src, err := in.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	wantBy := map[string][]string{}
	for i := range want {
		v := values(&want[i])
		wantBy[v[0]+"|"+v[1]] = v
	}
	n := 0
	for {
		r, _, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", in.name, err)
		}
		v := values(&r)
		if w := wantBy[v[0]+"|"+v[1]]; !slices.Equal(v, w) {
			t.Fatalf("%s row %d:\n got %q\nwant %q", in.name, n, v, w)
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("%s: %d rows, want %d", in.name, n, len(want))
	}
}

// BenchmarkLoad loads 20,000 subscribers (UT360_BENCH_N to change) per
// iteration into private stores; a CPU profile aid:
// go test -run '^$' -bench BenchmarkLoad -cpuprofile cpu.out ./loader
func BenchmarkLoad(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("UT360_BENCH_N"))
	if n == 0 {
		n = 20000
	}
	s := newStores(b)
	dir := gen(b, n, 1)
	b.ResetTimer()
	for range b.N {
		s.load(b, s.opts(dir))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "subscribers/s")
}

// copyBack writes n values of one column type with the hand-written binary
// COPY encoder (enc writes value i) into a temporary table and returns them
// as PostgreSQL prints them (text, the column cast by castSQL).
func copyBack(t *testing.T, typ, castSQL string, n int, enc func(w *copyWriter, i int)) []string {
	t.Helper()
	s := newStores(t)
	ctx := context.Background()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE back (i int, v "+typ+")"); err != nil {
		t.Fatal(err)
	}
	w := copyWriter{b: []byte(copyHeader)}
	for i := range n {
		w.tuple(2)
		w.int4(int32(i))
		enc(&w, i)
	}
	w.b = append(w.b, 0xff, 0xff)
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(w.b), "COPY back FROM STDIN (FORMAT binary)"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT "+castSQL+" FROM back ORDER BY i")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(got) != n {
		t.Fatalf("read %d of %d rows: %v", len(got), n, err)
	}
	return got
}

// TestBinaryNumeric: the hand-written numeric encoding reads back as the
// integer it encodes, around every base-10000 digit boundary.
func TestBinaryNumeric(t *testing.T) {
	vals := []int64{0, 1, -1, 9999, 10000, 10001, -10000, 99990000, 100000000, 123400005678,
		maxNumeric12, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	got := copyBack(t, "numeric", "v::text", len(vals), func(w *copyWriter, i int) { w.numeric(vals[i]) })
	for i, v := range vals {
		if want := strconv.FormatInt(v, 10); got[i] != want {
			t.Errorf("numeric(%d) reads back as %s", v, got[i])
		}
	}
}

// TestBinaryDate: the hand-written date encoding reads back as the same day,
// across the whole range the validators accept (years 1 to 9999).
func TestBinaryDate(t *testing.T) {
	var days []time.Time
	for _, y := range []int{1, 1699, 1700, 1969, 1970, 1999, 2000, 2024, 2292, 2293, 2300, 9999} {
		days = append(days, time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 12, 1, 0, 0, 0, 0, time.UTC))
	}
	got := copyBack(t, "date", "to_char(v, 'YYYY-MM-DD')", len(days), func(w *copyWriter, i int) { w.date(days[i]) })
	for i, d := range days {
		if want := d.Format(time.DateOnly); got[i] != want {
			t.Errorf("date %s reads back as %s", want, got[i])
		}
	}
}
