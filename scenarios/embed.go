// Package scenarios holds the built-in benchmark scenarios of `ut360 bench
// --all`: one YAML file per documented access pattern (SPEC §4–5), with the
// documented targets as thresholds. The files are data; this file only
// compiles them into the binary so that --all works from any directory.
package scenarios

import "embed"

// FS holds the built-in scenario files (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
