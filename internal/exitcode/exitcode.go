// Package exitcode names ut360's process exit codes, in one place.
package exitcode

// Exit codes of every ut360 subcommand.
const (
	// OK: the command did what was asked and every check passed.
	OK = 0
	// CheckFailed: a check failed (verify mismatch, threshold crossed, regression).
	CheckFailed = 1
	// Usage: bad usage or bad input (flags, files, rows over --max-rejects).
	Usage = 2
	// Fault: a runtime fault (store unreachable, I/O error, interrupted by a deadline).
	Fault = 3
	// Interrupted: stopped by SIGINT (Ctrl-C), as shells report 128+2.
	Interrupted = 130
)

// Error carries an exit code with the error that caused it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Wrap attaches code to err (nil stays nil).
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}
