//go:build !seccomp

package seccomp

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func compile(*specs.LinuxSeccomp) ([]byte, error) {
	return nil, errors.New("this claudebox was built without seccomp support (build with -tags seccomp and libseccomp-dev); refusing to launch without the filter, or pass --seccomp=off")
}

// Library is the libseccomp this claudebox was built with; "" when it was
// built without seccomp support.
func Library() string { return "" }
