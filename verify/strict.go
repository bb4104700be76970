package verify

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/ut360/ut360/dataset"
)

// The drill-down compares a Redis hash with what PostgreSQL's rows encode to
// (the loader writes exactly that, dataset.RecFields / ProfileFields) and is
// lenient only where the canonical encoding defines equal meaning:
//
//   - a float written in other number syntax of the same value (70.5 as
//     70.50 or 7.05e1), in a rec field or a profile JSON member; the text
//     must still be a JSON number: no spaces, no '+', no NaN or Inf;
//   - JSON member order and the whitespace between JSON tokens, and a JSON
//     string's escapes ("\u0041" is "A").
//
// Everything else must be equal as written: integers in their canonical
// digits, text byte for byte, hash field names and JSON member names
// exactly (no case folding), no member or field added, removed or repeated,
// no JSON value of another type. Nothing is trimmed or case-folded.

// scalarKind is how a rec hash field is compared.
type scalarKind int

const (
	kText  scalarKind = iota // byte for byte
	kInt                     // byte for byte (canonical digits)
	kFloat                   // any JSON number of the same value; "" only for NULL
)

// recKinds are the kinds of dataset.RecommendationColumns.
var recKinds = func() []scalarKind {
	out := make([]scalarKind, len(dataset.Recommendations.Types))
	for i, t := range dataset.Recommendations.Types {
		switch t.ID() {
		case arrow.FLOAT64:
			out[i] = kFloat
		case arrow.INT64, arrow.INT32:
			out[i] = kInt
		}
	}
	return out
}()

// isJSONNumber reports whether s is a number in JSON's grammar (RFC 8259):
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// sameNumber reports whether two JSON number texts denote the same finite
// float64 (-0 equals 0).
func sameNumber(a, b string) bool {
	if a == b {
		return true
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	return errA == nil && errB == nil && !math.IsInf(fa, 0) && fa == fb
}

// sameScalar reports whether got, a rec hash value, means want (its
// canonical form).
func sameScalar(k scalarKind, want, got string) bool {
	if got == want {
		return true
	}
	return k == kFloat && want != "" && isJSONNumber(got) && sameNumber(want, got)
}

// show quotes a value whose edges or characters would not be visible in a
// report (" +20000" stays readable as " +20000", quoted).
func show(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	if s != strings.TrimSpace(s) {
		return strconv.Quote(s)
	}
	return s
}

// recDiffs compares a rec hash with its row: every field of
// RecommendationColumns present exactly once under its exact name, no other
// field, and each value equal to the canonical one (floats: equal in value).
func recDiffs(want *dataset.Recommendation, rd hashRead) ([]FieldDiff, string) {
	if rd.err != nil {
		return unreadable(rd), "unreadable key"
	}
	wv := want.Values()
	var diffs []FieldDiff
	for i, c := range dataset.RecommendationColumns {
		got, ok := rd.fields[c]
		switch {
		case !ok:
			diffs = append(diffs, FieldDiff{Field: c, Expected: wv[i], Actual: "(missing)"})
		case !sameScalar(recKinds[i], wv[i], got):
			diffs = append(diffs, FieldDiff{Field: c, Expected: wv[i], Actual: show(got)})
		}
	}
	extra := extraFields(rd.fields, dataset.RecommendationColumns)
	diffs = append(diffs, extra...)
	if len(extra) > 0 {
		return diffs, "unexpected field in hash"
	}
	return diffs, ""
}

// extraFields lists the hash fields that are not in names.
func extraFields(h map[string]string, names []string) []FieldDiff {
	var out []FieldDiff
	for _, f := range slices.Sorted(maps.Keys(h)) {
		if !slices.Contains(names, f) {
			out = append(out, FieldDiff{Field: f, Expected: "(absent)", Actual: show(h[f])})
		}
	}
	return out
}

// profileDiffs compares a profile hash with its rows. First every field's
// JSON document is compared structurally with the one the loader writes for
// those rows: exact member names, no member added, removed or repeated, no
// value of another type (findings name "field.member"). When the structure
// holds, the hash is decoded through the canonical encoding and compared
// column by column (findings name the column, e.g. engagement_score or
// monthly_arpu[2026-05-01].arpu_call); the decoder also refuses an integer
// member written as a float.
func profileDiffs(want *dataset.Profile, months []dataset.Monthly, rd hashRead) ([]FieldDiff, string) {
	if rd.err != nil {
		return unreadable(rd), "unreadable key"
	}
	wf := want.ProfileFields(months)
	var structural, values []FieldDiff
	for i := 0; i+1 < len(wf); i += 2 {
		name, wj := wf[i], wf[i+1]
		gj, ok := rd.fields[name]
		switch {
		case !ok:
			structural = append(structural, FieldDiff{Field: name, Expected: wj, Actual: "(missing)"})
		case gj != wj:
			compareJSONField(name, wj, gj, &structural, &values)
		}
	}
	structural = append(structural, extraFields(rd.fields, dataset.ProfileFieldNames)...)
	if len(structural) > 0 {
		return append(structural, values...), "profile hash differs in structure: a field or JSON member renamed, added, " +
			"removed or repeated, a value of another type, or invalid JSON"
	}
	d := decodeProfile(rd.fields)
	if fe := d.fault; fe != nil {
		exp, act := "(absent)", fe.Value
		if i := slices.Index(dataset.ProfileFieldNames, fe.Column); i >= 0 {
			exp, act = wf[2*i+1], raw(rd.fields, fe.Column)
		} else if i := slices.Index(dataset.ProfileColumns, fe.Column); i >= 0 {
			exp = want.Values()[i]
		}
		return []FieldDiff{{Field: fe.Column, Expected: exp, Actual: act}}, fe.Reason
	}
	diffs := diffValues(dataset.ProfileColumns, want.Values(), d.profile.Values(), "")
	diffs = append(diffs, monthDiffs(months, d.months, dataset.PFMonthly)...)
	if len(diffs) == 0 && len(values) > 0 {
		return values, "" // a difference the column view cannot show: report it by JSON path
	}
	return diffs, ""
}

// compareJSONField compares the JSON document got of hash field name with
// want (the loader's), appending structural and value differences.
func compareJSONField(name, want, got string, structural, values *[]FieldDiff) {
	w, _, err := parseJSON(want)
	if err != nil { // the loader's own encoding: cannot happen, but never hide it
		*structural = append(*structural, FieldDiff{Field: name, Expected: want, Actual: show(got)})
		return
	}
	if !utf8.ValidString(got) {
		*structural = append(*structural, FieldDiff{Field: name, Expected: want, Actual: show(got)})
		return
	}
	g, at, err := parseJSON(got)
	if err != nil {
		path := name
		if at != "" {
			path += at
		}
		*structural = append(*structural, FieldDiff{Field: path, Expected: want, Actual: show(got) + " (invalid JSON: " + err.Error() + ")"})
		return
	}
	compareJSON(name, w, g, structural, values)
}

// jnode is a JSON value with its object members in document order and
// their names exactly as written (duplicates kept).
type jnode struct {
	kind  byte // '{' object, '[' array, 's' string, 'n' number, 'b' boolean, '0' null
	text  string
	names []string // object member names, parallel to kids
	kids  []*jnode // object member values or array elements
}

// String is a compact JSON text of n (numbers as written).
func (n *jnode) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *jnode) write(b *strings.Builder) {
	switch n.kind {
	case '{', '[':
		open, closing := byte('{'), byte('}')
		if n.kind == '[' {
			open, closing = '[', ']'
		}
		b.WriteByte(open)
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			if n.kind == '{' {
				q, _ := json.Marshal(n.names[i]) // a string always encodes
				b.Write(q)
				b.WriteByte(':')
			}
			k.write(b)
		}
		b.WriteByte(closing)
	case 's':
		q, _ := json.Marshal(n.text)
		b.Write(q)
	default:
		b.WriteString(n.text)
	}
}

// jparser reads a JSON document token by token, remembering where it is.
type jparser struct {
	dec  *json.Decoder
	path string // of the value being read, e.g. ".score" or ".call[3]"
}

// parseJSON parses one JSON document; on error it also returns the path of
// the member or element being read (e.g. ".score" for `{"score":NaN}`).
func parseJSON(s string) (*jnode, string, error) {
	p := &jparser{dec: json.NewDecoder(strings.NewReader(s))}
	p.dec.UseNumber()
	n, err := p.value("")
	if err != nil {
		return nil, p.path, err
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("data after the JSON value")
		}
		return nil, "", err
	}
	return n, "", nil
}

func (p *jparser) value(path string) (*jnode, error) {
	p.path = path
	tok, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jnode{kind: byte(t)}
		for i := 0; p.dec.More(); i++ {
			var name string
			if t == '{' {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				name, _ = kt.(string) // the decoder only yields string keys
				n.names = append(n.names, name)
			}
			sub := path + "." + name
			if t == '[' {
				sub = path + "[" + strconv.Itoa(i) + "]"
			}
			k, err := p.value(sub)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
		}
		p.path = path
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &jnode{kind: 's', text: t}, nil
	case json.Number:
		return &jnode{kind: 'n', text: string(t)}, nil
	case bool:
		return &jnode{kind: 'b', text: strconv.FormatBool(t)}, nil
	}
	return &jnode{kind: '0', text: "null"}, nil
}

// compareJSON compares got with want at path. Structural differences: a
// member missing, added or repeated (names compared exactly), a value of
// another type (null aside: a NULL that became a value is a value change).
// Value differences: strings, numbers (by value), booleans, nulls, array
// lengths. Member order and whitespace are not compared.
func compareJSON(path string, want, got *jnode, structural, values *[]FieldDiff) {
	if want.kind != got.kind {
		d := FieldDiff{Field: path, Expected: want.String(), Actual: got.String()}
		if want.kind == '0' || got.kind == '0' {
			*values = append(*values, d)
		} else {
			*structural = append(*structural, d)
		}
		return
	}
	switch want.kind {
	case '{':
		seen := map[string]bool{}
		for i, name := range got.names {
			switch {
			case seen[name]:
				*structural = append(*structural, FieldDiff{Field: path + "." + name, Expected: "(one member)",
					Actual: "repeated: " + got.kids[i].String()})
			case !slices.Contains(want.names, name):
				*structural = append(*structural, FieldDiff{Field: path + "." + name, Expected: "(absent)", Actual: got.kids[i].String()})
			default:
				compareJSON(path+"."+name, want.kids[slices.Index(want.names, name)], got.kids[i], structural, values)
			}
			seen[name] = true
		}
		for i, name := range want.names {
			if !seen[name] {
				*structural = append(*structural, FieldDiff{Field: path + "." + name, Expected: want.kids[i].String(), Actual: "(absent)"})
			}
		}
	case '[':
		if len(want.kids) != len(got.kids) {
			*values = append(*values, FieldDiff{Field: path, Expected: want.String(), Actual: got.String()})
			return
		}
		for i := range want.kids {
			compareJSON(path+"["+strconv.Itoa(i)+"]", want.kids[i], got.kids[i], structural, values)
		}
	case 'n':
		if !sameNumber(want.text, got.text) {
			*values = append(*values, FieldDiff{Field: path, Expected: want.text, Actual: got.text})
		}
	default:
		if want.text != got.text {
			*values = append(*values, FieldDiff{Field: path, Expected: want.String(), Actual: got.String()})
		}
	}
}
