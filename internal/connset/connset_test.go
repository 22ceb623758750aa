package connset

import (
	"net"
	"testing"
)

func TestSet(t *testing.T) {
	var s Set
	a, b := net.Pipe()
	defer b.Close()
	if !s.Track(a) {
		t.Fatal("an open set refused a connection")
	}
	ran := false
	if !s.WhileOpen(func() { ran = true }) || !ran {
		t.Fatal("WhileOpen did not run f on an open set")
	}
	if !s.Close() || s.Close() {
		t.Fatal("Close: true the first time, false after")
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("Close left a tracked connection open")
	}
	c, d := net.Pipe()
	defer c.Close()
	defer d.Close()
	if s.Track(c) || s.WhileOpen(func() { t.Error("WhileOpen ran f on a closed set") }) {
		t.Error("a closed set took a connection")
	}
}
