package daemon

// Abandoned lists the credentials whose work in flight (a token request, a
// save, a sink write) or unsaved answered refresh would be lost by exiting
// now; `tokend run` names them when a second signal makes it exit at once.
func (d *Daemon) Abandoned() []string { return d.sched.Abandoned() }
