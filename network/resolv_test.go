package network

import "testing"

func TestOnlyLoopbackResolvers(t *testing.T) {
	for _, c := range []struct {
		conf string
		want bool
	}{
		{"nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n", true},
		{"nameserver 127.0.0.1\nnameserver ::1\n", true},
		{"nameserver 127.0.0.53\nnameserver 192.168.1.1\n", false},
		{"nameserver 10.255.255.53\n", false},
		{"# no nameserver\n", false},
		{"", false},
		{"nameserver bogus\n", false},
	} {
		if got := onlyLoopbackResolvers([]byte(c.conf)); got != c.want {
			t.Errorf("%q: %v, want %v", c.conf, got, c.want)
		}
	}
}
