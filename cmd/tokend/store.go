package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tokend/tokend/internal/config"
	"github.com/tokend/tokend/internal/state"
)

// storeUsage is the synopsis of `tokend store`.
const storeUsage = "store check|backup|restore [--config FILE | --dir STATE_DIR] [--from BACKUP]"

// cmdStore verifies and recovers the file state store (issue 16):
//
//	check    checks tokend.db and every backup without opening them in bbolt
//	         (exit 0: usable; 4: corrupt, or missing/empty where a store was; 1: error)
//	backup   writes a consistent copy beside the store (tokend must be stopped;
//	         the daemon itself takes one at start-up and every hour)
//	restore  replaces tokend.db with the newest backup that passes the check (or
//	         --from), keeping the damaged file aside (tokend must be stopped)
func cmdStore(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "Usage: tokend %s\n", storeUsage)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stdout, "Usage: tokend %s\n", storeUsage)
		return 0
	}
	sub := args[0]
	fs := newFlags("store "+sub, storeUsage, stdout, stderr)
	cfgPath := configFlag(fs, "config file (its [state] dir)")
	dirFlag := fs.String("dir", "", "state directory (instead of --config)")
	from := fs.String("from", "", "restore: the backup file to restore (default: the newest usable one)")
	keep := fs.Int("keep", state.DefaultBackupKeep, "backup: how many backups to keep")
	if code, ok := parseNoArgs(fs, args[1:]); !ok {
		return code
	}
	dir, err := storeDir(*dirFlag, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "tokend store %s: %v\n", sub, err)
		return 1
	}
	switch sub {
	case "check":
		return storeCheck(dir, stdout, stderr)
	case "backup":
		st, err := state.Open(dir, state.Options{})
		if err != nil {
			fmt.Fprintf(stderr, "tokend store backup: %v\n", err)
			return storeExit(err)
		}
		defer st.Close()
		path, err := st.Backup(*keep)
		if err != nil {
			fmt.Fprintf(stderr, "tokend store backup: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "backup written: %s\n", path)
		return 0
	case "restore":
		src, err := state.Restore(dir, *from)
		if err != nil {
			fmt.Fprintf(stderr, "tokend store restore: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "restored %s from %s\n", filepath.Join(dir, "tokend.db"), src)
		fmt.Fprintln(stdout, "refreshes made after that backup are not in it: credentials whose refresh token rotated since will need tokend authorize or import")
		return 0
	}
	fmt.Fprintf(stderr, "tokend store: unknown subcommand %q\nUsage: tokend %s\n", sub, storeUsage)
	return 2
}

// storeDir is --dir, or the config's [state] dir.
func storeDir(dir, cfgPath string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return "", err
	}
	if cfg.State.Backend == "vault" {
		return "", errors.New("the state backend is vault: there is no store file to check or back up")
	}
	return cfg.State.Dir, nil
}

// storeCheck checks the store and its backups.
func storeCheck(dir string, stdout, stderr io.Writer) int {
	path := filepath.Join(dir, "tokend.db")
	code := 0
	switch err := state.CheckFile(path); {
	case err == nil:
		fmt.Fprintf(stdout, "%s: OK\n", path)
	case errors.Is(err, state.ErrLocked):
		fmt.Fprintf(stdout, "%s: in use by a running tokend, which checked it when it opened it\n", path)
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, state.ErrCorrupt):
		if _, merr := os.Stat(filepath.Join(dir, "tokend.db.marker")); errors.Is(err, os.ErrNotExist) && merr != nil {
			fmt.Fprintf(stdout, "%s: no store yet\n", path)
			break
		}
		fmt.Fprintf(stdout, "%s: DAMAGED: %v\n", path, err)
		code = state.ExitStoreDamaged
	default:
		fmt.Fprintf(stderr, "tokend store check: %v\n", err)
		return 1
	}
	backups, err := state.Backups(dir)
	if err != nil {
		fmt.Fprintf(stderr, "tokend store check: %v\n", err)
		return 1
	}
	for _, b := range backups {
		if err := state.CheckFile(b); err != nil {
			fmt.Fprintf(stdout, "  backup %s: DAMAGED: %v\n", b, err)
			continue
		}
		fmt.Fprintf(stdout, "  backup %s: OK\n", b)
	}
	if len(backups) == 0 {
		fmt.Fprintln(stdout, "  no backups")
	}
	if code != 0 {
		fmt.Fprintf(stdout, "to recover: stop tokend, then run tokend store restore --dir %s\n", dir)
	}
	return code
}

// storeExit is the exit status for an error opening the store.
func storeExit(err error) int {
	if errors.Is(err, state.ErrCorrupt) || errors.Is(err, state.ErrStoreLost) {
		return state.ExitStoreDamaged
	}
	return 1
}
