package config

// Problems flattens err into its problems: the errors that errors.Join
// joined, recursively (a Join of Joins, as validation and the daemon's
// build collect them), each one line of a report. A nil err has none; any
// other error is itself one problem.
func Problems(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Problems(e)...)
	}
	return out
}
