package dataset

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The profile hash's JSON documents are written by hand: encoding/json's
// reflection was the largest single cost of a load (a sixth of its CPU). The
// output is byte for byte what json.Marshal gives for the p* structs (the
// tests and FuzzProfileJSON compare the two), and ProfileFromHash still
// decodes with encoding/json.

// jsonBuf is a JSON document under construction.
type jsonBuf struct{ b []byte }

// key writes the separator and `"name":`; first says no comma is needed.
func (j *jsonBuf) key(name string, first bool) {
	if first {
		j.b = append(j.b, '{')
	} else {
		j.b = append(j.b, ',')
	}
	j.b = append(j.b, '"')
	j.b = append(j.b, name...)
	j.b = append(j.b, '"', ':')
}

func (j *jsonBuf) end() string {
	j.b = append(j.b, '}')
	s := string(j.b)
	j.b = j.b[:0]
	return s
}

func (j *jsonBuf) str(s string) { j.b = appendJSONString(j.b, s) }
func (j *jsonBuf) int(v int64)  { j.b = strconv.AppendInt(j.b, v, 10) }
func (j *jsonBuf) float(v float64) {
	j.b = appendJSONFloat(j.b, v)
}

func (j *jsonBuf) strs(l []string) {
	j.b = append(j.b, '[')
	for i, s := range l {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.b = appendJSONString(j.b, s)
	}
	j.b = append(j.b, ']')
}

func (j *jsonBuf) floats(l []float64) {
	j.b = append(j.b, '[')
	for i, v := range l {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.b = appendJSONFloat(j.b, v)
	}
	j.b = append(j.b, ']')
}

// appendJSONFloat formats v as encoding/json does (finite values only: the
// inputs reject NaN and infinities).
func appendJSONFloat(b []byte, v float64) []byte {
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString quotes s as json.Marshal does. Strings that need no
// escaping (the usual case, Vietnamese text included) are copied; anything
// else goes through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			return appendMarshalled(b, s)
		}
	}
	if !ascii && (!utf8.ValidString(s) || strings.Contains(s, "\u2028") || strings.Contains(s, "\u2029")) {
		return appendMarshalled(b, s)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendMarshalled(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// monthlySeries are the arrays of pMonthly after "month", in its field order.
var monthlySeries = []struct {
	name string
	get  func(*Monthly) float64
}{
	{"call", func(m *Monthly) float64 { return m.ArpuCall }},
	{"sms", func(m *Monthly) float64 { return m.ArpuSms }},
	{"data", func(m *Monthly) float64 { return m.ArpuData }},
	{"total", func(m *Monthly) float64 { return m.ArpuTotal }},
}

// ProfileFields returns the profile hash of pr with its monthly rows (in month
// order) as alternating field/value pairs, ready for HSET.
func (pr *Profile) ProfileFields(months []Monthly) []string {
	var j jsonBuf
	j.b = make([]byte, 0, 1024)
	out := make([]string, 0, 2*len(ProfileFieldNames))

	j.key("isdn", true)
	j.str(pr.ISDN)
	j.key("subscriber_type", false)
	j.str(pr.SubscriberType)
	j.key("service", false)
	j.str(pr.ServiceType)
	j.key("advance", false)
	j.int(pr.AdvanceAmount)
	out = append(out, PFBasic, j.end())

	j.key("month", true)
	j.b = append(j.b, '[')
	for i := range months {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.b = append(j.b, '"')
		j.b = months[i].DataMonth.UTC().AppendFormat(j.b, monthLayout)
		j.b = append(j.b, '"')
	}
	j.b = append(j.b, ']')
	series := make([]float64, len(months))
	for _, s := range monthlySeries {
		for i := range months {
			series[i] = s.get(&months[i])
		}
		j.key(s.name, false)
		j.floats(series)
	}
	out = append(out, PFMonthly, j.end())

	j.key("customer_value", true)
	j.float(pr.CustomerValueScore)
	j.key("advance_readiness", false)
	j.float(pr.AdvanceReadinessScore)
	j.key("engagement", false)
	j.float(pr.EngagementScore)
	j.key("priority", false)
	j.float(pr.PriorityScore)
	out = append(out, PFKPI, j.end())

	j.key("avg", true)
	j.float(pr.ArpuAvg6m)
	j.key("min", false)
	j.float(pr.ArpuMin6m)
	j.key("max", false)
	j.float(pr.ArpuMax6m)
	j.key("std", false)
	j.float(pr.ArpuStd6m)
	j.key("last", false)
	j.float(pr.ArpuLastMonth)
	j.key("growth", false)
	if pr.ArpuGrowthRate.Valid {
		j.float(pr.ArpuGrowthRate.V)
	} else {
		j.b = append(j.b, "null"...)
	}
	j.key("trend", false)
	j.str(pr.ArpuTrend)
	out = append(out, PFArpu, j.end())

	j.key("call", true)
	j.float(pr.RevenueCallShare)
	j.key("sms", false)
	j.float(pr.RevenueSmsShare)
	j.key("data", false)
	j.float(pr.RevenueDataShare)
	out = append(out, PFRevenue, j.end())

	j.key("count", true)
	j.int(int64(pr.TopupCount6m))
	j.key("avg", false)
	j.float(pr.TopupAvgAmount)
	j.key("days_since", false)
	j.int(int64(pr.DaysSinceLastTopup))
	out = append(out, PFTopup, j.end())

	j.key("level", true)
	j.str(pr.RiskLevel)
	j.key("score", false)
	j.float(pr.RiskScore)
	j.key("factors", false)
	j.strs(pr.RiskFactors)
	out = append(out, PFRisk, j.end())

	j.key("group", true)
	j.int(int64(pr.ClusterGroup))
	j.key("label", false)
	j.str(pr.ClusterLabel)
	j.key("months", false)
	j.int(int64(pr.MonthsActive))
	out = append(out, PFCluster, j.end())

	j.key("strengths", true)
	j.strs(pr.InsightStrengths)
	j.key("recommendations", false)
	j.strs(pr.InsightRecommendations)
	return append(out, PFInsight, j.end())
}

// AppendJSONList appends l as a JSON array of strings (HTML-escaped as
// json.Marshal does, which a JSON parser reads back the same).
func AppendJSONList(b []byte, l []string) []byte {
	j := jsonBuf{b}
	j.strs(l)
	return j.b
}

// ParseJSONList reads a JSON array of strings, as json.Unmarshal into a
// []string does. Arrays whose strings hold no escapes — what PostgreSQL's
// jsonb output almost always is — are split directly (verify reads three
// such lists per profile); anything else goes through encoding/json.
func ParseJSONList(b []byte) ([]string, error) {
	slow := func() ([]string, error) {
		var l []string
		err := json.Unmarshal(b, &l)
		return l, err
	}
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return slow()
	}
	out := []string{}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		if skipJSONSpace(b, i+1) != len(b) {
			return slow()
		}
		return out, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return slow()
		}
		j := i + 1
		for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] >= 0x20 {
			j++
		}
		if j >= len(b) || b[j] != '"' || !utf8.Valid(b[i+1:j]) {
			return slow()
		}
		out = append(out, string(b[i+1:j]))
		i = skipJSONSpace(b, j+1)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipJSONSpace(b, i+1)
		case i < len(b) && b[i] == ']' && skipJSONSpace(b, i+1) == len(b):
			return out, nil
		default:
			return slow()
		}
	}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
