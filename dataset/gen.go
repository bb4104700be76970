package dataset

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// GenOptions configures Generate. Zero fields take the documented defaults.
type GenOptions struct {
	// Subscribers is the number of subscribers (default 214,000, the reference scale).
	Subscribers int
	// Months is the number of monthly rows of an established subscriber, 1–24 (default 7).
	Months int
	// Seed makes the dataset reproducible (default 1).
	Seed uint64
	// Out is the folder the three files are written to (created if missing).
	Out string
	// Force overwrites existing files.
	Force bool
	// Progress, if set, is called with the number of subscribers written so far.
	Progress func(done int)
	// Day makes a realistic later day of the same population (default 1).
	// Day d holds subscribers (d-1)·k … (d-1)·k+N-1 with k = Churn·N: the
	// first k of day d-1 have left, k new ones have joined, and the first k
	// staying ones have a changed advance amount.
	Day int
	// Churn is the share of subscribers who leave, join and change per day,
	// 0–0.5 (default 0.1).
	Churn float64
}

// DefaultChurn is GenOptions.Churn's default.
const DefaultChurn = 0.1

// dayWindow is the first subscriber index of a day and how many change.
func (o *GenOptions) dayWindow() (first, changed int) {
	k := int(math.Round(o.Churn * float64(o.Subscribers)))
	return (o.Day - 1) * k, k
}

// genDay is subscriber i of a day: GenSubscriber, with the advance amount
// changed for the first `changed` subscribers of days after the first.
func genDay(seed uint64, i, months, day, first, changed int) Subscriber {
	s := GenSubscriber(seed, i, months)
	if day > 1 && i < first+changed {
		k := slices.Index(denominations, s.Rec.AdvanceAmount)
		den := denominations[(k+day)%len(denominations)]
		if den == s.Rec.AdvanceAmount {
			den = denominations[(k+day+1)%len(denominations)]
		}
		svc := slices.Index(ServiceTypes, s.Rec.ServiceType)
		s.Rec.AdvanceAmount, s.Profile.AdvanceAmount = den, den
		s.Rec.RevenuePerAdvance = den * serviceFeePct[svc] / 100
	}
	return s
}

// Defaults of GenOptions.
const (
	DefaultSubscribers = 214_000
	DefaultMonths      = 7
	DefaultSeed        = 1
)

// ErrBadOptions marks a usage error of Generate (bad N, M or output folder).
var ErrBadOptions = errors.New("bad options")

// LastMonth is the most recent data_month of a generated dataset: fixed, so
// files are byte-identical whatever the day they are generated on.
var LastMonth = time.Date(2026, time.October, 1, 0, 0, 0, 0, time.UTC)

// GenStats counts what Generate wrote.
type GenStats struct {
	Subscribers int
	MonthlyRows int
}

func (o *GenOptions) defaults() {
	if o.Subscribers == 0 {
		o.Subscribers = DefaultSubscribers
	}
	if o.Months == 0 {
		o.Months = DefaultMonths
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Day == 0 {
		o.Day = 1
	}
	if o.Churn == 0 {
		o.Churn = DefaultChurn
	}
}

// Validate reports a usage error, wrapped in ErrBadOptions.
func (o *GenOptions) Validate() error {
	switch {
	case o.Subscribers <= 0:
		return fmt.Errorf("%w: --subscribers must be > 0, got %d", ErrBadOptions, o.Subscribers)
	case o.Subscribers > 999_999_999:
		return fmt.Errorf("%w: --subscribers must be < 1e9 (distinct 9-digit phone numbers)", ErrBadOptions)
	case o.Months < 1 || o.Months > 24:
		return fmt.Errorf("%w: --months must be 1-24, got %d", ErrBadOptions, o.Months)
	case o.Out == "":
		return fmt.Errorf("%w: --out is required", ErrBadOptions)
	case o.Day < 1 || o.Day > 1000:
		return fmt.Errorf("%w: --day must be 1-1000, got %d", ErrBadOptions, o.Day)
	case !(o.Churn > 0 && o.Churn <= 0.5):
		return fmt.Errorf("%w: --churn must be in (0, 0.5], got %g", ErrBadOptions, o.Churn)
	case o.Subscribers+(o.Day-1)*int(math.Round(o.Churn*float64(o.Subscribers))) > 999_999_999:
		return fmt.Errorf("%w: --day %d of %d subscribers runs past 1e9 phone numbers", ErrBadOptions, o.Day, o.Subscribers)
	}
	return nil
}

// Files returns the three file paths of a dataset folder.
func Files(dir string) (recs, profiles, monthly string) {
	return filepath.Join(dir, RecommendationsFile), filepath.Join(dir, ProfilesFile), filepath.Join(dir, MonthlyFile)
}

func checkOut(o *GenOptions) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("%w: output folder %s: %v", ErrBadOptions, o.Out, unwrapPathErr(err))
	}
	probe, err := os.CreateTemp(o.Out, ".ut360-probe-*")
	if err != nil {
		return fmt.Errorf("%w: output folder %s is not writable: %v", ErrBadOptions, o.Out, unwrapPathErr(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	if o.Force {
		return nil
	}
	a, b, c := Files(o.Out)
	for _, p := range []string{a, b, c} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%w: %s already exists (use --force to overwrite)", ErrBadOptions, p)
		}
	}
	return nil
}

// Subscriber is everything generated for subscriber i.
type Subscriber struct {
	Rec     Recommendation
	Profile Profile
	Monthly []Monthly
}

const genChunk = 1024

// Generate writes the three files of a synthetic dataset. Subscriber i depends
// only on (Seed, i), so chunks are generated in parallel and a smaller N is a
// prefix of a larger one. The files appear only when all three are complete.
func Generate(ctx context.Context, o GenOptions) (GenStats, error) {
	o.defaults()
	if err := o.Validate(); err != nil {
		return GenStats{}, err
	}
	if err := checkOut(&o); err != nil {
		return GenStats{}, err
	}
	rp, pp, mp := Files(o.Out)
	rw, err := Create(&Recommendations, rp, CSV)
	if err != nil {
		return GenStats{}, err
	}
	defer rw.Abort()
	pw, err := Create(&Profiles, pp, Parquet)
	if err != nil {
		return GenStats{}, err
	}
	defer pw.Abort()
	mw, err := Create(&Monthlies, mp, Parquet)
	if err != nil {
		return GenStats{}, err
	}
	defer mw.Abort()

	nChunks := (o.Subscribers + genChunk - 1) / genChunk
	g, ctx := errgroup.WithContext(ctx)
	// Ordered fan-in: each chunk gets its own result channel, queued in order.
	results := make(chan chan []Subscriber, runtime.GOMAXPROCS(0)*2)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	g.Go(func() error {
		defer close(results)
		for c := range nChunks {
			ch := make(chan []Subscriber, 1)
			select {
			case results <- ch:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			go func(c int) {
				defer func() { <-sem }()
				lo, hi := c*genChunk, min((c+1)*genChunk, o.Subscribers)
				first, changed := o.dayWindow()
				subs := make([]Subscriber, hi-lo)
				for i := lo; i < hi; i++ {
					subs[i-lo] = genDay(o.Seed, first+i, o.Months, o.Day, first, changed)
				}
				ch <- subs
			}(c)
		}
		return nil
	})
	// One writer per file, fed in chunk order.
	feeds := [3]chan []Subscriber{make(chan []Subscriber, 2), make(chan []Subscriber, 2), make(chan []Subscriber, 2)}
	var stats GenStats
	g.Go(func() error {
		defer func() {
			for _, f := range feeds {
				close(f)
			}
		}()
		for ch := range results {
			var subs []Subscriber
			select {
			case subs = <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
			for _, f := range feeds {
				select {
				case f <- subs:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			stats.Subscribers += len(subs)
			for i := range subs {
				stats.MonthlyRows += len(subs[i].Monthly)
			}
			if o.Progress != nil {
				o.Progress(stats.Subscribers)
			}
		}
		return nil
	})
	g.Go(func() error {
		for subs := range feeds[0] {
			for i := range subs {
				if err := rw.Write(&subs[i].Rec); err != nil {
					return fmt.Errorf("write %s: %w", rp, err)
				}
			}
		}
		return nil
	})
	g.Go(func() error {
		for subs := range feeds[1] {
			for i := range subs {
				if err := pw.Write(&subs[i].Profile); err != nil {
					return fmt.Errorf("write %s: %w", pp, err)
				}
			}
		}
		return nil
	})
	g.Go(func() error {
		for subs := range feeds[2] {
			for i := range subs {
				for j := range subs[i].Monthly {
					if err := mw.Write(&subs[i].Monthly[j]); err != nil {
						return fmt.Errorf("write %s: %w", mp, err)
					}
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return GenStats{}, err
	}
	for _, c := range []func() error{rw.Commit, pw.Commit, mw.Commit} {
		if err := c(); err != nil {
			return GenStats{}, err
		}
	}
	return stats, nil
}

// ISDNFor returns the ISDN of subscriber i: standard base64 of the MD5 of the
// phone number "84" + 9 digits. The digits are a bijection of i (multiplication
// by a number coprime to 10^9, plus a seed offset), so ISDNs never repeat.
func ISDNFor(seed uint64, i int) string {
	const mod = 1_000_000_000
	off := (seed * 0x9E3779B97F4A7C15) % mod
	n := (uint64(i)*387_420_489 + off) % mod // 3^18 is coprime to 10^9
	var phone [11]byte
	phone[0], phone[1] = '8', '4'
	s := strconv.FormatUint(n+mod, 10)[1:] // zero-padded to 9 digits
	copy(phone[2:], s)
	sum := md5.Sum(phone[:])
	return base64.StdEncoding.EncodeToString(sum[:])
}

var (
	serviceWeights = []float64{0.40, 0.25, 0.15, 0.12, 0.08}
	serviceFeePct  = []int64{10, 12, 15, 10, 20}
	denominations  = []int64{10_000, 20_000, 30_000, 50_000, 100_000}
)

func pick(r *rand.Rand, weights []float64) int {
	x := r.Float64()
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
func round2(v float64) float64        { return math.Round(v*100) / 100 }
func round4(v float64) float64        { return math.Round(v*10000) / 10000 }

// GenSubscriber generates subscriber i of a dataset with the given seed and months.
func GenSubscriber(seed uint64, i, months int) Subscriber {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	isdn := ISDNFor(seed, i)
	subType := SubscriberTypes[0]
	if r.Float64() < 0.08 {
		subType = SubscriberTypes[1]
	}
	svc := pick(r, serviceWeights)
	isNew := r.Float64() < 0.05
	active := months
	if isNew {
		active = 1 + r.IntN(max(1, min(months, 3)))
	}
	// Monthly ARPU series: log-normal base with a per-subscriber trend.
	base := math.Exp(11 + 0.6*r.NormFloat64()) // ~60,000 VND median
	trend := 0.04 * r.NormFloat64()
	callShare := 0.2 + 0.5*r.Float64()
	smsShare := 0.02 + 0.08*r.Float64()
	mrows := make([]Monthly, active)
	var sum, sumSq, mn, mx float64
	mn = math.Inf(1)
	for m := range active {
		month := LastMonth.AddDate(0, m-active+1, 0)
		total := base * math.Max(0.05, 1+trend*float64(m)+0.1*r.NormFloat64())
		// VND has no minor unit: monthly amounts are whole đồng.
		call := math.Round(total * callShare)
		sms := math.Round(total * smsShare)
		data := math.Max(0, math.Round(total-call-sms))
		tot := call + sms + data
		mrows[m] = Monthly{ISDN: isdn, DataMonth: month, ArpuCall: call, ArpuSms: sms, ArpuData: data, ArpuTotal: tot}
		sum += tot
		sumSq += tot * tot
		mn, mx = math.Min(mn, tot), math.Max(mx, tot)
	}
	n := float64(active)
	avg := sum / n
	std := math.Sqrt(math.Max(0, sumSq/n-avg*avg))
	last := mrows[active-1].ArpuTotal
	growth := NullFloat{}
	arpuTrend := "NEW"
	if !isNew {
		g := round4((last - mrows[0].ArpuTotal) / math.Max(1, mrows[0].ArpuTotal))
		growth = NullFloat{V: g, Valid: true}
		switch {
		case g > 0.05:
			arpuTrend = "INCREASING"
		case g < -0.05:
			arpuTrend = "DECREASING"
		default:
			arpuTrend = "STABLE"
		}
	}
	var revCall, revSms, revData float64
	if sum > 0 {
		var c, s float64
		for _, m := range mrows {
			c += m.ArpuCall
			s += m.ArpuSms
		}
		revCall, revSms = round4(c/sum), round4(s/sum)
		revData = round4(1 - revCall - revSms)
		if revData < 0 { // rounding can make the last share -0.0001
			revData, revCall = 0, round4(1-revSms)
		}
	}
	topups := int32(1 + r.IntN(30))
	if isNew {
		topups = int32(1 + r.IntN(5))
	}
	daysSince := int32(r.ExpFloat64() * 6)
	value := round2(clamp(50+22*math.Log(base/60000)+8*r.NormFloat64(), 0, 100))
	readiness := round2(clamp(30+2.2*float64(topups)-1.5*float64(daysSince)+10*r.NormFloat64()+0.2*value, 0, 100))
	riskScore := round2(clamp(25-0.2*value-0.15*readiness+float64(daysSince)+12*math.Abs(r.NormFloat64())+boolF(isNew)*15, 0, 100))
	risk := "LOW"
	switch {
	case riskScore >= 45:
		risk = "HIGH"
	case riskScore >= 25:
		risk = "MEDIUM"
	}
	engagement := round2(clamp(0.5*readiness+0.3*value+20*r.Float64(), 0, 100))
	priority := round2(clamp(0.4*value+0.4*readiness+0.2*(100-riskScore), 0, 100))
	den := denominations[min(len(denominations)-1, int(value/22))]
	if risk == "HIGH" {
		den = denominations[0]
	}
	cluster := clusterOf(value, risk, isNew, topups)
	subs := Subscriber{
		Rec: Recommendation{
			ISDN: isdn, SubscriberType: subType, ServiceType: ServiceTypes[svc], AdvanceAmount: den,
			RevenuePerAdvance: den * serviceFeePct[svc] / 100, ClusterGroup: cluster, BadDebtRisk: risk,
			ArpuAvg6m: round2(avg), ArpuGrowthRate: growth, ArpuTrend: arpuTrend, CustomerValueScore: value,
			AdvanceReadinessScore: readiness, PriorityScore: priority,
		},
		Monthly: mrows,
	}
	subs.Profile = Profile{
		ISDN: isdn, SubscriberType: subType, ServiceType: ServiceTypes[svc], AdvanceAmount: den,
		ArpuAvg6m: round2(avg), ArpuMin6m: mn, ArpuMax6m: mx, ArpuStd6m: round2(std), ArpuLastMonth: last,
		ArpuGrowthRate: growth, ArpuTrend: arpuTrend,
		RevenueCallShare: revCall, RevenueSmsShare: revSms, RevenueDataShare: revData,
		TopupCount6m: topups, TopupAvgAmount: round2(base * (0.3 + 0.4*r.Float64())), DaysSinceLastTopup: daysSince,
		RiskLevel: risk, RiskScore: riskScore, RiskFactors: sample(r, riskFactors, riskFactorCount(risk, r)),
		CustomerValueScore: value, AdvanceReadinessScore: readiness, EngagementScore: engagement, PriorityScore: priority,
		ClusterGroup: cluster, ClusterLabel: ClusterLabels[cluster], MonthsActive: int32(active),
		InsightStrengths: sample(r, strengths, 2+r.IntN(3)), InsightRecommendations: sample(r, recommendations, 2+r.IntN(3)),
	}
	return subs
}

func boolF(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func clusterOf(value float64, risk string, isNew bool, topups int32) int32 {
	switch {
	case isNew:
		return 3
	case risk == "HIGH":
		return 4
	case value >= 70:
		return 0
	case topups < 4:
		return 5
	case value >= 45:
		return 1
	}
	return 2
}

func riskFactorCount(risk string, r *rand.Rand) int {
	switch risk {
	case "HIGH":
		return 2 + r.IntN(3)
	case "MEDIUM":
		return 1 + r.IntN(2)
	}
	return r.IntN(2)
}

// sample picks k distinct items of pool (k ≤ len(pool)) in a deterministic order.
func sample(r *rand.Rand, pool []string, k int) []string {
	out := make([]string, 0, k)
	start := r.IntN(len(pool))
	step := 1 + r.IntN(len(pool)-1)
	for j := 0; len(out) < k; j++ {
		s := pool[(start+j*step)%len(pool)]
		if !slices.Contains(out, s) {
			out = append(out, s)
		} else {
			start++
		}
	}
	return out
}

var riskFactors = []string{
	"Nợ quá hạn lần trước", "Nạp tiền không đều", "Thuê bao mới", "ARPU giảm mạnh",
	"Lâu không nạp tiền", "Ứng tiền nhiều lần", "Sử dụng thấp", "Đổi SIM gần đây",
}

var strengths = []string{
	"Thuê bao nạp tiền đều đặn hằng tháng, ít khi gián đoạn.",
	"ARPU ổn định trong sáu tháng gần nhất, không biến động lớn.",
	"Tỷ trọng doanh thu dữ liệu cao, phù hợp gói ứng data.",
	"Lịch sử hoàn trả khoản ứng trước đúng hạn và đầy đủ.",
	"Thời gian sử dụng mạng lâu năm, mức độ gắn bó cao.",
	"Mức chi tiêu thoại cao hơn trung bình của cùng phân khúc.",
	"Tần suất nạp tiền cao, thường nạp mệnh giá lớn.",
	"Điểm giá trị khách hàng thuộc nhóm dẫn đầu của cụm.",
	"Xu hướng ARPU tăng trưởng tốt trong các tháng gần đây.",
	"Hoạt động đều trên cả thoại, tin nhắn và dữ liệu.",
}

var recommendations = []string{
	"Ưu tiên mời ứng tiền qua SMS vào đầu tuần sau.",
	"Đề xuất gói ứng data 30.000 đồng kèm ưu đãi dung lượng.",
	"Tăng hạn mức ứng lên mệnh giá kế tiếp sau ba lần hoàn trả.",
	"Gửi thông báo nhắc nạp tiền trước ngày hết hạn tài khoản.",
	"Không nên tăng hạn mức cho đến khi ARPU ổn định trở lại.",
	"Kết hợp khuyến mãi nạp thẻ để tăng tần suất nạp tiền.",
	"Mời tham gia chương trình khách hàng thân thiết của nhà mạng.",
	"Theo dõi thêm một tháng trước khi đề xuất ứng tiền mệnh giá lớn.",
	"Chào gói ứng thoại nội mạng vào khung giờ cao điểm buổi tối.",
	"Cá nhân hóa lời mời ứng tiền theo thói quen nạp thẻ của thuê bao.",
}
