//go:build seccomp

package seccomp

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// compileSeccomp turns an OCI seccomp profile into a classic BPF program
// with libseccomp, as runc would at every start; claudebox does it once and
// caches the result (see Program).
func compile(p *specs.LinuxSeccomp) ([]byte, error) {
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	// no_new_privs is the runtime's to set; the filter must not.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, err
	}
	for _, a := range p.Architectures {
		arch, ok := archs[a]
		if !ok {
			continue
		}
		sa, err := libseccomp.GetArchFromString(arch)
		if err != nil {
			return nil, err
		}
		if err := f.AddArch(sa); err != nil {
			return nil, err
		}
	}
	for _, rule := range p.Syscalls {
		act, err := action(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, err
		}
		conds, err := conditions(rule.Args)
		if err != nil {
			return nil, err
		}
		for _, name := range rule.Names {
			call, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // unknown to this libseccomp or architecture
			}
			if err := addRule(f, call, act, conds); err != nil {
				return nil, fmt.Errorf("seccomp rule for %s: %w", name, err)
			}
		}
	}
	tmp, err := os.CreateTemp("", "claudebox-seccomp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := f.ExportBPF(tmp); err != nil {
		return nil, err
	}
	return os.ReadFile(tmp.Name())
}

// addRule adds one rule; conditions on the same argument are alternatives
// (libseccomp takes one comparison per argument in a rule), as runc reads
// them.
func addRule(f *libseccomp.ScmpFilter, call libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(call, act)
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range conds {
		repeated = repeated || seen[c.Argument]
		seen[c.Argument] = true
	}
	if !repeated {
		return f.AddRuleConditional(call, act, conds)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(call, act, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

var archs = map[specs.Arch]string{
	specs.ArchX86_64: "amd64", specs.ArchX86: "x86", specs.ArchX32: "x32",
	specs.ArchAARCH64: "arm64", specs.ArchARM: "arm",
}

func action(a specs.LinuxSeccompAction, errno *uint) (libseccomp.ScmpAction, error) {
	switch a {
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActErrno:
		code := int16(unix.EPERM)
		if errno != nil {
			code = int16(*errno)
		}
		return libseccomp.ActErrno.SetReturnCode(code), nil
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("seccomp action %q is not supported", a)
}

var ops = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual: libseccomp.CompareNotEqual, specs.OpLessThan: libseccomp.CompareLess,
	specs.OpLessEqual: libseccomp.CompareLessOrEqual, specs.OpEqualTo: libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual, specs.OpGreaterThan: libseccomp.CompareGreater,
	specs.OpMaskedEqual: libseccomp.CompareMaskedEqual,
}

func conditions(args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, error) {
	var out []libseccomp.ScmpCondition
	for _, a := range args {
		op, ok := ops[a.Op]
		if !ok {
			return nil, fmt.Errorf("seccomp operator %q is not supported", a.Op)
		}
		values := []uint64{a.Value}
		if op == libseccomp.CompareMaskedEqual {
			values = append(values, a.ValueTwo)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, values...)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Library is the version of the libseccomp this claudebox runs with.
func Library() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}
