package bench

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML as "250ms", "10s", "1m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as its string form ("1.5s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// UnmarshalJSON reads the string form written by MarshalJSON.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Ratio is a share between 0 and 1, written as 0.05 or "5%".
type Ratio float64

// Problem is one fault of a scenario file: where it is and what is wrong.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (p *Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Field == "" {
		return fmt.Sprintf("%s: %s", loc, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Field, p.Msg)
}

var (
	durationType = reflect.TypeFor[Duration]()
	ratioType    = reflect.TypeFor[Ratio]()
)

// strictDecoder fills Go values from a YAML node tree, reporting every unknown
// key, duplicate key and ill-typed value (not only the first), and remembering
// the line of every field so that later validation can point at it.
type strictDecoder struct {
	file     string
	problems []error
	lines    map[string]int
}

// failed tells whether field had a decoding problem.
func (d *strictDecoder) failed(field string) bool {
	for _, p := range d.problems {
		if pr, ok := p.(*Problem); ok && pr.Field == field {
			return true
		}
	}
	return false
}

func (d *strictDecoder) fail(n *yaml.Node, field, format string, args ...any) {
	d.problems = append(d.problems, &Problem{File: d.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decode stores n into v (addressable); path names the field in messages.
func (d *strictDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "aliases are not supported")
		return
	}
	switch v.Type() {
	case durationType:
		d.scalar(n, path, "a duration such as 250ms or 10s", func(s string) bool {
			x, err := time.ParseDuration(s)
			if err != nil || x < 0 {
				return false
			}
			v.SetInt(int64(x))
			return true
		})
		return
	case ratioType:
		d.scalar(n, path, "a share such as 0.05 or 5%", func(s string) bool {
			f, ok := parseRatio(s)
			if ok {
				v.SetFloat(f)
			}
			return ok
		})
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return
		}
		nv := reflect.New(v.Type().Elem())
		d.decode(n, nv.Elem(), path)
		v.Set(nv)
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "must be a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			ep := fmt.Sprintf("%s[%d]", path, i)
			d.lines[ep] = c.Line
			d.decode(c, s.Index(i), ep)
		}
		v.Set(s)
	case reflect.String:
		d.scalar(n, path, "a string", func(s string) bool {
			if n.Tag == "!!null" {
				return false
			}
			v.SetString(s)
			return true
		})
	case reflect.Int, reflect.Int64:
		d.scalar(n, path, "an integer", func(s string) bool {
			x, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
			if err == nil {
				v.SetInt(x)
			}
			return err == nil
		})
	case reflect.Uint64:
		d.scalar(n, path, "a non-negative integer", func(s string) bool {
			x, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, 64)
			if err == nil {
				v.SetUint(x)
			}
			return err == nil
		})
	case reflect.Float64:
		d.scalar(n, path, "a number", func(s string) bool {
			x, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
			if err == nil && !isFinite(x) {
				err = fmt.Errorf("not finite")
			}
			if err == nil {
				v.SetFloat(x)
			}
			return err == nil
		})
	case reflect.Bool:
		d.scalar(n, path, "true or false", func(s string) bool {
			x, err := strconv.ParseBool(s)
			if err == nil {
				v.SetBool(x)
			}
			return err == nil
		})
	default:
		d.fail(n, path, "unsupported field type %s", v.Type())
	}
}

func (d *strictDecoder) scalar(n *yaml.Node, path, want string, set func(string) bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be %s", want)
		return
	}
	if !set(n.Value) {
		d.fail(n, path, "must be %s, got %q", want, n.Value)
	}
}

func (d *strictDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of fields")
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var known []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
			known = append(known, name)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		idx, ok := fields[k.Value]
		switch {
		case !ok:
			d.fail(k, fp, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		case seen[k.Value]:
			d.fail(k, fp, "given twice")
			continue
		}
		seen[k.Value] = true
		d.lines[fp] = k.Line
		d.decode(val, v.Field(idx), fp)
	}
}

func parseRatio(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	div := 1.0
	if rest, ok := strings.CutSuffix(s, "%"); ok {
		s, div = strings.TrimSpace(rest), 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !isFinite(f) {
		return 0, false
	}
	f /= div
	return f, f >= 0 && f <= 1
}

func isFinite(f float64) bool { return f == f && f-f == 0 }

func reflect0(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
