package main

import (
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// urfave/cli v2 parses each command's flags with Go's flag package: parsing
// stops at the first positional argument, and a command knows only its own
// flags (v2 has no persistent flags; see urfave/cli issues 427 and 976). So
// `ut360 load --pg URL` and `ut360 bench compare A B --max-regression 10%`
// failed although every comparable tool (psql, pgbench, kubectl, docker)
// accepts them. normalizeArgs rewrites the command line before the parser sees
// it: each flag moves to just after the command that defines it (the deepest
// one when several do), ahead of that command's positional arguments, with its
// value. Everything after "--" stays positional. Unknown flags stay with the
// deepest command, where the parser reports them as before.

// cmdLevel is one command of the command path being rewritten.
type cmdLevel struct {
	name   string         // as typed ("" for the program itself)
	path   string         // the command names after the program: "bench compare"
	flags  []cli.Flag     // the flags this command defines
	subs   []*cli.Command // its subcommands
	action bool           // it runs an action of its own (positionals need not name a subcommand)
	out    []string       // its flag tokens, values included, in the order typed
	pos    []string       // its positional arguments
}

// normalizeArgs returns args (args[0] is the program) with every flag placed
// right after the command that defines it. A first positional argument that
// should name a subcommand but names none is a usage error suggesting the
// closest name.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	levels := []*cmdLevel{{flags: app.Flags, subs: app.Commands, action: app.Action != nil}}
	var rest []string // after "--"
	dashdash := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		cur := levels[len(levels)-1]
		switch {
		case a == "--":
			dashdash, rest = true, args[i+1:]
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			name, hasValue := flagName(a)
			at, f := cur, cli.Flag(nil)
			for j := len(levels) - 1; j >= 0; j-- {
				if f = lookupFlag(levels[j].flags, name); f != nil {
					at = levels[j]
					break
				}
			}
			at.out = append(at.out, a)
			if f != nil && !hasValue && takesValue(f) && i+1 < len(args) {
				i++
				at.out = append(at.out, args[i])
			}
		case len(cur.pos) == 0 && len(cur.subs) > 0:
			if a == "help" { // `ut360 help bench compare` is `ut360 bench compare --help`
				return normalizeArgs(app, append(append(slices.Clip(args[:i]), args[i+1:]...), "--help"))
			}
			if sub := findCommand(cur.subs, a); sub != nil {
				levels = append(levels, &cmdLevel{name: a, path: strings.TrimSpace(cur.path + " " + sub.Name), flags: sub.Flags,
					subs: sub.Subcommands, action: sub.Action != nil})
				continue
			}
			if !cur.action {
				return nil, unknownCommand(app.Name, cur, a)
			}
			// A command that takes arguments too (bench FILE... | bench compare):
			// an argument that is no file but a typo of a subcommand is the typo.
			if _, err := os.Stat(a); err != nil && closestCommand(cur.subs, a) != "" {
				return nil, unknownCommand(app.Name, cur, a)
			}
			cur.pos = append(cur.pos, a)
		default:
			cur.pos = append(cur.pos, a)
		}
	}
	out := []string{args[0]}
	for k, l := range levels {
		out = append(out, l.out...)
		if k+1 < len(levels) {
			out = append(out, levels[k+1].name)
			continue
		}
		if dashdash {
			out = append(out, "--")
		}
		out = append(append(out, l.pos...), rest...)
	}
	return out, nil
}

// flagName returns the name in -name, --name, -name=value or --name=value and
// whether the token carries the value.
func flagName(tok string) (string, bool) {
	name := strings.TrimPrefix(strings.TrimPrefix(tok, "-"), "-")
	if k := strings.IndexByte(name, '='); k >= 0 {
		return name[:k], true
	}
	return name, false
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// takesValue reports whether f consumes the next argument (every flag but a
// boolean one).
func takesValue(f cli.Flag) bool {
	if v, ok := f.(interface{ TakesValue() bool }); ok {
		return v.TakesValue()
	}
	return true
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// unknownCommand is the usage error for a mistyped subcommand, with the
// closest known name when one is close enough to be a typo.
func unknownCommand(prog string, l *cmdLevel, typed string) error {
	prefix := l.path
	if prefix != "" {
		prefix += " "
	}
	if best := closestCommand(l.subs, typed); best != "" {
		return usageErr("unknown command %q; did you mean %q?", prefix+typed, prefix+best)
	}
	var names []string
	for _, c := range l.subs {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return usageErr("unknown command %q (commands: %s; see %s --help)", prefix+typed, strings.Join(names, ", "), strings.TrimSpace(prog+" "+l.path))
}

// closestCommand returns the visible command whose name (or alias) typed is a
// typo of: at most one edit away for up to three letters, two beyond, or a
// prefix of three letters or more; "" when none is.
func closestCommand(cmds []*cli.Command, typed string) string {
	typed = strings.ToLower(typed)
	allowed := 2
	if len(typed) <= 3 {
		allowed = 1
	}
	best, bestD := "", allowed+1
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, n := range c.Names() {
			d := editDistance(typed, n)
			if len(typed) >= 3 && strings.HasPrefix(n, typed) {
				d = min(d, 1)
			}
			if d < bestD {
				best, bestD = c.Name, d
			}
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance of a and b: the
// fewest insertions, deletions, substitutions and swaps of adjacent letters
// turning one into the other ("lod" → "load" is 1, "laod" → "load" is 1).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
