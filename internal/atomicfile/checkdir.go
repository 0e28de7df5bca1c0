package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// CheckDirAccess is CheckDirWritable without side effects, for `tokend
// validate`: it verifies that dir exists, is a directory and that this user
// may create files in it, by asking the kernel (access(2) with W_OK|X_OK,
// which also reports a read-only filesystem) instead of creating a probe
// file. It can pass where the probe fails (ACLs or quotas it does not see),
// never the other way round. Errors read like CheckDirWritable's and unwrap
// to the cause.
func CheckDirAccess(dir string) error {
	if err := statDir(dir); err != nil {
		return err
	}
	if err := syscall.Access(dir, 0o2|0o1); err != nil { // W_OK|X_OK
		err = &fs.PathError{Op: "access", Path: dir, Err: err}
		return &dirError{msg: fmt.Sprintf("directory %s is not writable: %v", dir, cause(err)), err: err}
	}
	return nil
}

// statDir is the part of both checks that only looks: dir exists and is a
// directory. Errors read "directory /x does not exist" or "/x is not a
// directory" and unwrap to the cause.
func statDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &dirError{msg: fmt.Sprintf("directory %s does not exist", dir), err: err}
	case err != nil:
		return &dirError{msg: fmt.Sprintf("directory %s: %v", dir, cause(err)), err: err}
	case !fi.IsDir():
		return &dirError{msg: fmt.Sprintf("%s is not a directory", dir), err: fs.ErrInvalid}
	}
	return nil
}
